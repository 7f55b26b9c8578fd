"""Physical AWS names that fit each service's length limit, derived deterministically from the component name."""

from __future__ import annotations

import hashlib
import re

import pulumi

__all__ = ["digest", "physical_name", "stack_unique_name"]


def digest(*parts: str, length: int = 8) -> str:
    """A short, stable hex digest of ``parts``."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def physical_name(base: str, limit: int, *, suffix: str = "", salt: tuple[str, ...] = ()) -> str:
    """``base`` + ``suffix`` when it fits in ``limit``; otherwise ``base`` truncated with a digest kept unique.

    ``salt`` adds values to the digest (and forces it): the project and stack, so two stacks can share an
    account, or replace-on-change properties, so a replacement gets a new name and create-before-delete
    never collides with the resource it replaces.
    """
    clean = re.sub(r"[^a-z0-9-]", "-", base.lower()).strip("-")
    if not salt and len(clean) + len(suffix) <= limit:
        return clean + suffix
    tag = digest(clean, *salt)
    room = limit - len(suffix) - len(tag) - 1
    head = clean[:room].rstrip("-")
    return f"{head}-{tag}{suffix}" if head else f"{tag}{suffix}"


def stack_unique_name(base: str, limit: int, *, salt: tuple[str, ...] = ()) -> str:
    """A physical name unique per project and stack: dev and prod of the same service can share an account."""
    return physical_name(base, limit, salt=(pulumi.get_project(), pulumi.get_stack(), *salt))
