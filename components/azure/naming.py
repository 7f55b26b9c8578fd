"""Physical Azure names within each service's character set and length limit, derived from the component name."""

from __future__ import annotations

import hashlib
import re
import uuid

import pulumi

__all__ = ["assignment_name", "compact_name", "digest", "dns_name"]

# A fixed namespace so role-assignment names (GUIDs) are stable run to run and unique per scope, role and principal.
_ASSIGNMENTS = uuid.UUID("6f1c1c0e-8b1e-4f5e-9d58-6d6f64656c70")


def digest(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def _salt() -> tuple[str, str]:
    return pulumi.get_project(), pulumi.get_stack()


def dns_name(base: str, limit: int, *, unique: bool = True) -> str:
    """Lowercase letters, digits and '-', starting with a letter; a stack digest keeps global names unique."""
    clean = re.sub(r"[^a-z0-9-]", "-", base.lower()).strip("-")
    clean = re.sub(r"-{2,}", "-", clean)
    if not clean[:1].isalpha():
        clean = "m" + clean
    if not unique and len(clean) <= limit:
        return clean
    tag = digest(clean, *_salt(), length=6)
    head = clean[: limit - len(tag) - 1].rstrip("-")
    return f"{head}-{tag}"


def compact_name(base: str, limit: int) -> str:
    """Letters and digits only (ACR, storage accounts): lowercase, stack-unique, within ``limit``."""
    clean = re.sub(r"[^a-z0-9]", "", base.lower())
    if not clean[:1].isalpha():
        clean = "m" + clean
    tag = digest(clean, *_salt(), length=6)
    return clean[: limit - len(tag)] + tag


def assignment_name(*parts: str) -> str:
    """A role-assignment name: ARM wants a GUID, the same on every run for the same assignment."""
    return str(uuid.uuid5(_ASSIGNMENTS, "/".join(parts)))
