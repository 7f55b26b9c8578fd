"""Physical GCP names that fit each API's rules (service accounts, key rings, Cloud Run), derived from the component."""

from __future__ import annotations

import hashlib
import re

import pulumi

__all__ = ["account_id", "digest", "physical_name", "stack_unique_name"]


def digest(*parts: str, length: int = 8) -> str:
    """A short, stable hex digest of ``parts``."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def physical_name(base: str, limit: int, *, suffix: str = "", salt: tuple[str, ...] = ()) -> str:
    """A lowercase RFC 1035 name: ``base`` + ``suffix`` when it fits ``limit``, else truncated with a digest.

    GCP names start with a letter and end with a letter or digit; ``salt`` (project and stack) forces the
    digest so two stacks in one project never collide on a project-global name.
    """
    clean = re.sub(r"[^a-z0-9-]", "-", base.lower()).strip("-")
    if not clean or not clean[0].isalpha():
        clean = f"m-{clean}".rstrip("-")
    if not salt and len(clean) + len(suffix) <= limit:
        return clean + suffix
    tag = digest(clean, *salt)
    room = limit - len(suffix) - len(tag) - 1
    head = clean[:room].rstrip("-")
    return f"{head}-{tag}{suffix}" if head else f"m{tag}{suffix}"


def stack_unique_name(base: str, limit: int, *, suffix: str = "") -> str:
    """A name unique per Pulumi project and stack: dev and prod of one service can share a GCP project."""
    return physical_name(base, limit, suffix=suffix, salt=(pulumi.get_project(), pulumi.get_stack()))


def account_id(base: str) -> str:
    """A service account id: 6-30 characters, ``[a-z]([-a-z0-9]*[a-z0-9])``, unique per stack."""
    return stack_unique_name(base, 30)
