"""Credentials in plain values, found by the maintained detect-secrets plugins (the spec and the policy pack share it).

The plugins recognise URLs with passwords, known token formats (AWS, GitHub, Slack, Stripe, JWT, ...), private
keys and high-entropy strings. modelport first removes what is public by construction and would otherwise look
random: image digests, ARNs (a secret *reference* is not a secret), UUIDs and ``${...}`` references.
"""

from __future__ import annotations

import functools
import re

__all__ = ["credential_findings", "env_credential_findings"]

# Public values that look random to an entropy test; they are blanked out before the detectors run.
_PUBLIC_TOKENS = re.compile(
    r"(?:sha256|sha512):[0-9a-fA-F]{32,}"  # OCI digests
    r"|arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{0,12}:[^\s\"',;]+"  # ARNs: references, never secret values
    r"|\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"  # UUIDs
    r"|\$\{[^}]*\}|\$\([^)]*\)|\{\{[^}]*\}\}"  # shell and template references
)
# Plugins whose finding names a kind of credential; the two entropy plugins are reported as one kind.
_ENTROPY = {"Base64 High Entropy String", "Hex High Entropy String"}
# The keyword plugin judges names (PASSWORD=..., api_key: ...); env names are judged by the spec itself, and in
# free text it is the one that recognises `password = "..."`.


@functools.lru_cache(maxsize=1)
def _plugins() -> tuple:
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError("modelport needs detect-secrets: pip install 'bc-detect-secrets>=1.4'") from exc
    from detect_secrets.settings import default_settings

    with default_settings():
        return tuple(cls() for cls in get_mapping_from_secret_type_to_class().values())


def _blank_public(text: str) -> str:
    return _PUBLIC_TOKENS.sub("x", text)


@functools.lru_cache(maxsize=4096)
def _scan_line(line: str) -> tuple[str, ...]:
    from detect_secrets.filters.heuristic import is_potential_uuid, is_sequential_string, is_templated_secret

    kinds: set[str] = set()
    for plugin in _plugins():
        for secret in plugin.analyze_line(filename="modelport.yaml", line=line, line_number=0):
            value = secret.secret_value or ""
            if is_sequential_string(value) or is_potential_uuid(value) or is_templated_secret(value):
                continue
            kinds.add("a high-entropy string" if secret.type in _ENTROPY else _describe(secret.type))
    return tuple(sorted(kinds))


def _describe(kind: str) -> str:
    named = {"Basic Auth Credentials": "a URL with a password", "Secret Keyword": "a credential assignment"}
    if kind in named:
        return named[kind]
    return f"an {kind}" if kind[0] in "AEIOU" else f"a {kind}"


def credential_findings(text: str) -> list[str]:
    """What credential-looking content ``text`` holds, line by line, described without quoting it."""
    blanked = _blank_public(text)
    found: set[str] = set()
    for line in blanked.splitlines():
        if line.strip():
            found.update(_scan_line(line))
    if "\n" in blanked.strip():  # a private key spans lines
        found.update(_scan_line(blanked))
    return sorted(found)


def env_credential_findings(name: str, value: str) -> list[str]:
    """What credential ``value`` (an environment variable's value) looks like; [] when it looks like none.

    The value is scanned quoted, as the entropy detectors require, and on its own, as the token detectors do.
    """
    blanked = _blank_public(value)
    found = set(credential_findings(blanked))
    if "\n" not in blanked and '"' not in blanked:
        found.update(_scan_line(f'{name}="{blanked}"'))
    return sorted(found)
