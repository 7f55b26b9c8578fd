"""Reading a Pulumi project and stack config from disk, and applying ``--set KEY=VALUE`` overrides."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..validation import SpecError

__all__ = ["SECRET_PLACEHOLDER", "StackFiles", "apply_override", "load_stack", "parse_override", "read_yaml"]

SECRET_PLACEHOLDER = "[secret]"


class PulumiYamlLoader(yaml.SafeLoader):
    """YAML as Pulumi reads stack files: the YAML 1.2 core schema (Go's yaml.v3), not PyYAML's YAML 1.1.

    ``NO``, ``yes`` and ``on`` stay strings, ``1_000`` and ``2024-01-01`` stay strings, ``0o17`` is octal and
    ``017`` is decimal. Only ``true``/``false``, ``null``/``~``, core-schema integers and floats are typed.
    """


PulumiYamlLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:merge"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
):
    PulumiYamlLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _construct_core_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


def _construct_core_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    return loader.construct_scalar(node).lower() == "true"


PulumiYamlLoader.add_constructor("tag:yaml.org,2002:int", _construct_core_int)
PulumiYamlLoader.add_constructor("tag:yaml.org,2002:bool", _construct_core_bool)


def read_yaml(text: str, source: str = "<string>") -> Any:
    """Parse YAML text as Pulumi does (YAML 1.2 core schema); errors name ``source``."""
    try:
        return yaml.load(text, Loader=PulumiYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise SpecError(source, f"is not valid YAML: {exc}") from None


def _top_level_scalars_as_text(path: Path, document: Any) -> None:
    """Pulumi reads a top-level config scalar into a string, exactly as written (``1.10`` stays ``"1.10"``)."""
    root = yaml.compose(path.read_text(), Loader=PulumiYamlLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(root, yaml.MappingNode) or not isinstance(document, dict):
        return
    for key_node, value_node in root.value:
        if key_node.value != "config" or not isinstance(value_node, yaml.MappingNode):
            continue
        config = document.get("config")
        if not isinstance(config, dict):
            return
        for config_key, config_value in value_node.value:
            if isinstance(config_value, yaml.ScalarNode) and config_key.value in config:
                null = config_value.tag == "tag:yaml.org,2002:null"
                config[config_key.value] = "" if null else config_value.value


@dataclass
class StackFiles:
    """A project's name, its program directory, and one stack's decoded config."""

    project: str
    stack: str
    directory: Path
    main: Path
    config: dict[str, Any]
    secret_keys: list[str] = field(default_factory=list)
    # The stack file itself, so that config errors can name it.
    file: Path | None = None


def _read_yaml(path: Path) -> Any:
    return read_yaml(path.read_text(), str(path)) or {}


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
    _top_level_scalars_as_text(stack_file, stack_doc)
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
        project=project,
        stack=stack,
        directory=directory,
        main=main,
        config=config,
        secret_keys=secret_keys,
        file=stack_file,
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
