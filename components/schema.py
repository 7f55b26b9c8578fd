"""The JSON Schema of stack config (``Pulumi.<stack>.yaml``), generated from the spec dataclasses so the two never
drift. ``modelport config-schema`` prints it; ``stacks/stack-config.schema.json`` ships it for editors."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from . import spec
from .regions import REGIONS

__all__ = ["SCHEMA_ID", "service_schema", "stack_config_schema", "target_schema"]

SCHEMA_ID = "https://modelport.dev/schemas/stack-config.schema.json"

# Value sets the dataclasses check in ``__post_init__``; named here from the spec's own constants.
_CHOICES: dict[tuple[type, str], tuple[Any, ...]] = {
    (spec.Accelerator, "type"): spec.ACCELERATOR_TYPES,
    (spec.Target, "cloud"): spec.CLOUDS,
    (spec.Target, "pattern"): spec.PATTERNS,
}
_PATTERNS: dict[tuple[type, str], str] = {
    (spec.ModelService, "name"): spec.NAME_PATTERN,
    (spec.Exposure, "domain"): spec.HOSTNAME_PATTERN,
}
# Fields of the dataclasses that are not config keys.
_NOT_CONFIG = {(spec.Target, "path")}
_DOCS: dict[tuple[type, str], str] = {
    (spec.ModelService, "image"): spec.IMAGE_TEXT + "; prod requires a digest",
    (spec.ModelService, "secrets"): "ENV_NAME: " + spec.SECRET_TEXT,
    (spec.Exposure, "allowed_principals"): spec.PRINCIPAL_TEXT,
    (spec.Exposure, "allowed_networks"): "CIDRs that may connect (they narrow, they never authenticate)",
    (spec.Target, "region"): "a region of the target's cloud (modelport/regions.py); not for cloud kubernetes",
    (spec.Target, "zones"): "zone names of a region newer than modelport's region table (the escape hatch)",
    (spec.Target, "options"): "target-specific options: see the cloud's README (components/<cloud>/README.md)",
}


def _anchored(pattern: str) -> str:
    return f"^(?:{pattern})$"


def _type_schema(owner: type, name: str, hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        inner = _type_schema(owner, name, members[0]) if len(members) == 1 else {}
        return {"anyOf": [inner, {"type": "null"}]} if type(None) in args else inner
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        result: dict[str, Any] = {"type": "string"}
        if (owner, name) in _CHOICES:
            result["enum"] = list(_CHOICES[(owner, name)])
        if (owner, name) in _PATTERNS:
            result["pattern"] = _anchored(_PATTERNS[(owner, name)])
        return result
    if hint is spec.SecretRef:
        return {"type": "string", "description": spec.SECRET_TEXT}
    if origin is tuple:
        item = args[0] if args else Any
        return {"type": "array", "items": _type_schema(owner, name, item)}
    if origin in (Mapping, dict, typing.Mapping) or hint is Mapping:
        value = args[1] if len(args) == 2 else Any
        values = _type_schema(owner, name, value)
        if value is str:
            # YAML numbers and booleans in env and tags are taken as their text, as the spec does.
            values = {"type": ["string", "number", "boolean"]}
        if name == "options":
            return {"type": "object"}
        return {"type": "object", "additionalProperties": values}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_schema(hint)
    return {}


def _dataclass_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, vars(spec))
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        if not f.init or (cls, f.name) in _NOT_CONFIG:
            continue
        schema = _type_schema(cls, f.name, hints[f.name])
        if f.default is not dataclasses.MISSING and isinstance(f.default, (str, int, float, bool)):
            schema["default"] = f.default
        if (cls, f.name) in _DOCS:
            schema["description"] = _DOCS[(cls, f.name)]
        properties[f.name] = schema
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    result: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if cls.__doc__:
        result["description"] = " ".join(cls.__doc__.split())
    if required:
        result["required"] = required
    return result


def service_schema() -> dict[str, Any]:
    return _dataclass_schema(spec.ModelService)


def target_schema() -> dict[str, Any]:
    schema = _dataclass_schema(spec.Target)
    regions = {cloud: sorted(table) for cloud, table in REGIONS.items()}
    # The region must belong to the target's cloud; kubernetes targets name no region.
    schema["allOf"] = [
        {
            "if": {"properties": {"cloud": {"const": cloud}}, "required": ["cloud"]},
            # A region newer than the table is accepted with its zones named (the escape hatch).
            "then": {
                "required": ["region"],
                "anyOf": [{"required": ["zones"]}, {"properties": {"region": {"enum": names}}}],
            },
        }
        for cloud, names in regions.items()
        if cloud in spec.CLOUDS and cloud != "kubernetes"
    ] + [
        {
            "if": {"properties": {"cloud": {"const": "kubernetes"}}, "required": ["cloud"]},
            "then": {"not": {"anyOf": [{"required": ["region"]}, {"required": ["zones"]}]}},
        }
    ]
    return schema


def stack_config_schema() -> dict[str, Any]:
    """The schema of a whole ``Pulumi.<stack>.yaml`` file. Other namespaces' keys (``aws:region``) are allowed;
    ``modelport:`` keys are exactly the three the spec reads."""
    known = [spec.ENVIRONMENT_PATH, spec.SERVICE_PATH, spec.TARGETS_PATH]
    secure = {
        "type": "object",
        "properties": {"secure": {"type": "string"}},
        "required": ["secure"],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "modelport stack config (Pulumi.<stack>.yaml)",
        "description": "Generated by `modelport config-schema` from modelport.spec; do not edit by hand.",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "properties": {
                    spec.ENVIRONMENT_PATH: {
                        "type": "string",
                        "enum": list(spec.ENVIRONMENTS),
                        "default": "dev",
                        "description": "the environment profile: dev, staging or prod defaults",
                    },
                    spec.SERVICE_PATH: {"$ref": "#/$defs/ModelService"},
                    spec.TARGETS_PATH: {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Target"}},
                },
                "required": [spec.SERVICE_PATH, spec.TARGETS_PATH],
                "propertyNames": {
                    "if": {"pattern": "^modelport:"},
                    "then": {"enum": known},
                },
                "additionalProperties": {
                    "anyOf": [secure, {"type": ["string", "number", "boolean", "object", "array"]}]
                },
            },
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "encryptionsalt": {"type": "string"},
            "environment": {"type": ["array", "object"]},
        },
        "additionalProperties": False,
        "$defs": {"ModelService": service_schema(), "Target": target_schema()},
    }
