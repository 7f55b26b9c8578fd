"""Tests of the serving image (a package, so its conftest never shadows tests/conftest.py)."""
