"""The modelport CrossGuard pack, importable as ``modelport.policies`` (its rules: ``modelport.policies.rules``).

The directory is also the pack itself: ``pulumi preview --policy-pack policies`` runs ``__main__.py``.
"""
