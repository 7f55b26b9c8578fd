"""Reading a Pulumi project and stack config from disk, and applying ``--set KEY=VALUE`` overrides."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..validation import SpecError

__all__ = ["SECRET_PLACEHOLDER", "StackFiles", "apply_override", "load_stack", "parse_override"]

SECRET_PLACEHOLDER = "[secret]"


@dataclass
class StackFiles:
    """A project's name, its program directory, and one stack's decoded config."""

    project: str
    stack: str
    directory: Path
    main: Path
    config: dict[str, Any]
    secret_keys: list[str] = field(default_factory=list)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SpecError(str(path), f"is not valid YAML: {exc}") from None


def _qualify(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def load_stack(stack: str, stack_dir: str | Path = "stacks") -> StackFiles:
    directory = Path(stack_dir)
    project_file = directory / "Pulumi.yaml"
    if not project_file.is_file():
        raise SpecError(str(project_file), "not found; --stack-dir must hold a Pulumi project")
    project_doc = _read_yaml(project_file)
    project = project_doc.get("name") if isinstance(project_doc, dict) else None
    if not isinstance(project, str) or not project:
        raise SpecError(f"{project_file}: name", "is required")
    stack_file = directory / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in directory.glob("Pulumi.*.yaml"))
        raise SpecError(str(stack_file), f"not found; stacks here: {', '.join(known) or 'none'}")

    config: dict[str, Any] = {}
    secret_keys: list[str] = []
    for key, spec in (project_doc.get("config") or {}).items():
        # Project-level config declares defaults as {default: ...} or a bare value.
        value = spec.get("default") if isinstance(spec, dict) else spec
        if value is not None:
            config[_qualify(project, key)] = value
    stack_doc = _read_yaml(stack_file)
    if not isinstance(stack_doc, dict):
        raise SpecError(str(stack_file), "must be a mapping with a `config:` key")
    raw = stack_doc.get("config") or {}
    if not isinstance(raw, dict):
        raise SpecError(f"{stack_file}: config", "must be a mapping of config keys")
    for key, value in raw.items():
        qualified = _qualify(project, str(key))
        if isinstance(value, dict) and set(value) == {"secure"}:
            # Encrypted with the stack's passphrase; offline we only know that it is a secret.
            value = SECRET_PLACEHOLDER
            secret_keys.append(qualified)
        config[qualified] = value
    main = directory / (project_doc.get("main") or "__main__.py")
    if main.is_dir():
        main = main / "__main__.py"
    return StackFiles(
        project=project, stack=stack, directory=directory, main=main, config=config, secret_keys=secret_keys
    )


def parse_override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``; VALUE is JSON when it parses as JSON, otherwise a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise SpecError("--set", f"expects KEY=VALUE (got {text!r})")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")


def apply_override(config: dict[str, Any], project: str, key: str, value: Any) -> None:
    """Set ``ns:name`` or a path inside it such as ``ns:service.scaling.min_replicas`` or ``ns:targets[0].region``."""
    match = re.match(r"[A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)?", key)
    if match is None:
        raise SpecError(f"--set {key}", "must start with a config key such as modelport:service")
    root = _qualify(project, match.group(0))
    rest = key[match.end() :]
    steps: list[str | int] = []
    position = 0
    while position < len(rest):
        step = _STEP.match(rest, position)
        if step is None:
            raise SpecError(f"--set {key}", "path steps are .name or [index]")
        steps.append(step.group(1) if step.group(1) is not None else int(step.group(2)))
        position = step.end()
    if not steps:
        config[root] = value
        return
    container = config.setdefault(root, {} if isinstance(steps[0], str) else [])
    for index, step in enumerate(steps):
        last = index == len(steps) - 1
        shown = root + "".join(f".{s}" if isinstance(s, str) else f"[{s}]" for s in steps[: index + 1])
        if isinstance(step, int):
            if not isinstance(container, list) or step >= len(container):
                raise SpecError(f"--set {shown}", "no such list item")
            if last:
                container[step] = value
            else:
                container = container[step]
        else:
            if not isinstance(container, dict):
                raise SpecError(f"--set {shown}", "parent is not a mapping")
            if last:
                container[step] = value
            else:
                nxt = steps[index + 1]
                container = container.setdefault(step, [] if isinstance(nxt, int) else {})
