"""Reading engine property bags safely: paths, lists, booleans, images, IAM documents and secret-looking text."""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from modelport.credentials import credential_findings, env_credential_findings
from modelport.spec import parse_image
from modelport.validation import SpecError
from pulumi_policy.proxy import UnknownValueError

__all__ = [
    "UNKNOWN",
    "is_set",
    "peek",
    "SECRET_NAME",
    "decode_text",
    "get",
    "has_digest",
    "image_refs_in_text",
    "is_false",
    "is_true",
    "is_zero",
    "items",
    "number",
    "parse_json",
    "policy_statements",
    "secret_findings",
    "env_findings",
    "strings",
]

# Property bags arrive as Mappings and Sequences (CrossGuard wraps them in proxies that raise on unknown
# values), so every helper tests for the abstract types, never dict or list.


def get(value: Any, *keys: str | int, default: Any = None) -> Any:
    """``value[k1][k2]...`` where each step exists, else ``default``. Keys may contain dots."""
    current = value
    for key in keys:
        if isinstance(key, int):
            if not is_list(current) or not -len(current) <= key < len(current):
                return default
            current = current[key]
        else:
            if not isinstance(current, Mapping):
                return default
            current = current.get(key)
        if current is None:
            return default
    return current


class _Unknown:
    """A value computed during the deployment: known to be set, not what it will be."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


def peek(value: Any, *keys: str | int, default: Any = None) -> Any:
    """Like ``get``, but a final value that is unknown during the preview comes back as UNKNOWN.

    Use it where "set to something computed" is enough, e.g. a KMS key ARN that another resource in the same
    stack will produce; unknown structure on the way there still raises, as it would for any rule.
    """
    *path, last = keys
    container = get(value, *path) if path else value
    if container is None:
        return default
    try:
        found = get(container, last)
    except UnknownValueError:
        return UNKNOWN
    return default if found is None else found


def is_set(value: Any, *keys: str | int) -> bool:
    """Whether the property at ``keys`` is set: present and non-empty, or computed (unknown) at preview."""
    found = peek(value, *keys)
    return found is UNKNOWN or bool(found)


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def items(value: Any) -> list[Any]:
    """A list property as a list: [] when unset, and a lone value as a one-item list."""
    if value is None:
        return []
    if is_list(value):
        return [value[i] for i in range(len(value))]
    return [value]


def strings(value: Any) -> list[str]:
    return [str(v) for v in items(value) if v is not None]


def is_true(value: Any) -> bool:
    """True for ``True`` and for the string "true" (some providers, e.g. launch templates, use strings)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def number(value: Any) -> float | None:
    """A numeric property as a float; numeric strings (Azure capacities) count, anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def is_zero(value: Any) -> bool:
    """0, 0.0 (numbers arrive as floats from the engine), "0" or "0%"."""
    if isinstance(value, str):
        return value.strip() in ("0", "0%")
    return number(value) == 0


def parse_json(value: Any) -> Any:
    """A JSON-encoded property (IAM documents, ECS container definitions) decoded; mappings pass through."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def has_digest(image: Any) -> bool:
    """Whether an OCI reference, parsed with the OCI grammar (short Docker Hub names too), is pinned by digest."""
    if not isinstance(image, str):
        return False
    try:
        ref = parse_image("image", image.strip())
    except SpecError:
        return False
    return ref.digest is not None and bool(re.fullmatch(r"sha256:[0-9a-f]{64}", ref.digest))


# A container runtime invoked by a script; its first positional argument after the verb is the image.
_RUNTIME = re.compile(r"\b(docker|podman|nerdctl|ctr|crictl|containerd|finch)\b", re.IGNORECASE)
_RUNTIME_VERBS = {"run", "pull", "create"}
# `docker run` / `podman run` flags that take no value; every other flag takes one (as its next word or after =).
_BOOLEAN_FLAGS = {
    "--detach",
    "--rm",
    "--init",
    "--interactive",
    "--tty",
    "--read-only",
    "--privileged",
    "--publish-all",
    "--no-healthcheck",
    "--oom-kill-disable",
    "--disable-content-trust",
    "--quiet",
    "--all-tags",
    "--use-api-socket",
    "--replace",
    "--sig-proxy",
}
_BOOLEAN_SHORT = set("ditPqa")
_IMAGE_KEY = re.compile(r"^\s*-?\s*[\"']?image[\"']?\s*[:=]\s*[\"']?(?P<ref>[^\s\"']+)", re.IGNORECASE | re.MULTILINE)


def _commands(text: str) -> Iterator[list[str]]:
    """Shell words of each command in ``text`` (continuations joined; ``;``/``&&``/``|`` split commands)."""
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            words = list(lexer)
        except ValueError:
            words = line.split()
        command: list[str] = []
        for word in words:
            if word and set(word) <= set(";&|()<>"):
                if command:
                    yield command
                command = []
            else:
                command.append(word)
        if command:
            yield command


def _runtime_image(words: list[str]) -> str | None:
    """The image a ``<runtime> [container|image] run|pull|create ...`` command names, if it is one."""
    for index, word in enumerate(words):
        if _RUNTIME.fullmatch(word.rsplit("/", 1)[-1]) is None:
            continue
        rest = words[index + 1 :]
        while rest and rest[0] in ("container", "image", "-n") or (rest and rest[0].startswith("--namespace")):
            rest = rest[2:] if rest[0] == "-n" else rest[1:]
        if not rest or rest[0] not in _RUNTIME_VERBS:
            continue
        args = iter(rest[1:])
        for arg in args:
            if arg == "--":
                return next(args, None)
            if arg.startswith("--"):
                if "=" not in arg and arg not in _BOOLEAN_FLAGS:
                    next(args, None)
            elif arg.startswith("-") and len(arg) > 1:
                if not set(arg[1:]) <= _BOOLEAN_SHORT:
                    next(args, None)
            else:
                return arg
    return None


def image_refs_in_text(text: str) -> list[str]:
    """The container images a startup script or cloud-init document runs, pulls or names as ``image:``."""
    found = [image for words in _commands(text) if (image := _runtime_image(words))]
    found += [match.group("ref") for match in _IMAGE_KEY.finditer(text)]
    return list(dict.fromkeys(found))


def unpinned_named_containers(containers: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """Findings for container definitions (``name`` and ``image`` keys) whose image has no digest."""
    for container in containers:
        if not has_digest(container.get("image")):
            yield f"container {container.get('name')} runs {container.get('image')!r}, not pinned by digest"


def unpinned_boot_images(args: Any, text: str, source: str, runner: str) -> Iterator[str]:
    """Findings for the images a VM's boot text (``source``: user data, cloud-init...) starts without a digest.

    Not applicable only when the text involves no container runtime at all; a text that runs one with an image
    this rule cannot recognise fails, since an image nobody can judge is not a pinned one.
    """
    refs = image_refs_in_text(text)
    if not refs:
        if _RUNTIME.search(text) is None:
            args.not_applicable(f"the {source} involves no container runtime")
        yield f"the {source} runs a container runtime, but no image reference could be recognised to judge"
        return
    for ref in refs:
        if not has_digest(ref):
            yield f"{runner} runs {ref}, which is not pinned by digest"


def decode_text(value: Any) -> str:
    """User data as text: base64 and gzip are undone when present, plain text is returned as is."""
    if not isinstance(value, str):
        return ""
    raw = value.strip()
    if raw and re.fullmatch(r"[A-Za-z0-9+/=\s]+", raw) and len(raw) % 4 == 0:
        try:
            data = base64.b64decode(raw, validate=False)
        except (binascii.Error, ValueError):
            data = b""
        if data.startswith(b"\x1f\x8b"):
            try:
                data = gzip.decompress(data)
            except OSError:
                data = b""
        text = data.decode("utf-8", errors="replace") if data else ""
        if text and _mostly_printable(text):
            return text
    return value


def _mostly_printable(text: str) -> bool:
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\n\r\t")
    return printable >= 0.95 * len(text)


# Environment or setting names that almost always carry a credential.
SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|ACCESS_?KEY|CONNECTION_?STRING|AUTH)",
    re.IGNORECASE,
)


def secret_findings(text: str) -> list[str]:
    """What credential-looking content ``text`` (user data, a script) holds, described without quoting it.

    The maintained detect-secrets plugins judge it (URLs with passwords, token formats, private keys, high
    entropy), after modelport.credentials removes what is public by construction (digests, ARNs, UUIDs).
    """
    return credential_findings(text)


def env_findings(env: Any) -> Iterator[tuple[str, str]]:
    """(name, finding) for each environment variable whose name or literal value is a credential.

    ``env`` is a mapping (Lambda, SageMaker) or a list of ``{name, value}`` entries (ECS, Kubernetes); entries
    that take their value from elsewhere (``valueFrom``) carry no literal and pass.
    """
    if isinstance(env, Mapping):
        pairs = [(str(key), env.get(key)) for key in env]
    else:
        pairs = [(str(get(entry, "name", default="")), get(entry, "value")) for entry in items(env)]
    for name, value in pairs:
        if value is None or value == "":
            continue
        if SECRET_NAME.search(name):
            yield name, "a literal credential"
            continue
        for finding in env_credential_findings(name, str(value)):
            yield name, finding


def policy_statements(document: Any) -> list[Mapping[str, Any]]:
    """The statements of an IAM / resource policy document given as JSON text or a mapping."""
    doc = parse_json(document)
    if not isinstance(doc, Mapping):
        return []
    statements = doc.get("Statement")
    if isinstance(statements, Mapping):
        return [statements]
    return [s for s in items(statements) if isinstance(s, Mapping)]


def statement_values(statement: Mapping[str, Any], key: str) -> list[str]:
    """``Action``/``Resource`` (and their ``Not`` forms) of a statement as a list of strings."""
    return strings(statement.get(key))


def principals(statement: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, principal) pairs of a statement; a bare ``"*"`` principal is ("*", "*")."""
    principal = statement.get("Principal")
    if isinstance(principal, str):
        yield ("*" if principal == "*" else "AWS", principal)
        return
    if isinstance(principal, Mapping):
        for kind in principal:
            for value in strings(principal.get(kind)):
                yield (str(kind), value)
