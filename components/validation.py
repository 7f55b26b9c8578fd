"""Validation primitives shared by the spec, the profiles and every component's Args: SpecError and checkers."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "SpecError",
    "join_path",
    "check_bool",
    "check_choice",
    "check_int",
    "check_mapping_keys",
    "check_number",
    "check_optional_str",
    "check_str",
    "check_str_list",
    "check_str_map",
    "under",
]


class SpecError(ValueError):
    """A configuration value is invalid. ``path`` is the full key path, ``reason`` says what is accepted."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)

    def under(self, prefix: str) -> SpecError:
        """The same error with its key path placed under ``prefix``; a path that already starts at a config
        key (``modelport:service...``) is absolute and stays as it is."""
        if ":" in self.path.split(".", 1)[0]:
            return self
        return SpecError(join_path(prefix, self.path), self.reason)


class ServiceSpecError(SpecError):
    """An error in ``modelport:service`` found by a target: its key path stays absolute.

    Target options are validated under ``modelport:targets[i].options``; a problem with the shared service is
    reported at the service key that must change, with the target named in the reason. Every cloud uses this one.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"modelport:service.{key}", reason)

    def under(self, prefix: str) -> SpecError:
        return self


def join_path(prefix: str, key: str) -> str:
    if not prefix:
        return key
    if not key:
        return prefix
    if key.startswith("["):
        return prefix + key
    return f"{prefix}.{key}"


class under:  # noqa: N801 - used as a context manager, reads like a clause
    """Re-raise any SpecError raised inside the block with its path placed under ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if isinstance(exc, SpecError):
            moved = exc.under(self.prefix)
            if moved is exc:
                return False
            raise moved from None
        return False


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SpecError(path, f"must be true or false (got {_shown(value)})")
    return value


def check_int(path: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(path, f"must be an integer{_range_text(minimum, maximum)} (got {_shown(value)})")
    _check_range(path, value, minimum, maximum)
    return value


def check_number(
    path: str, value: Any, *, minimum: float | None = None, maximum: float | None = None, exclusive_min: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN is not a number here
        raise SpecError(path, f"must be a number{_range_text(minimum, maximum, exclusive_min)} (got {_shown(value)})")
    if exclusive_min and minimum is not None and value <= minimum:
        raise SpecError(path, f"must be > {minimum} (got {_shown(value)})")
    _check_range(path, value, None if exclusive_min else minimum, maximum)
    return value


def _range_text(minimum: float | None, maximum: float | None, exclusive_min: bool = False) -> str:
    low = ">" if exclusive_min else ">="
    if minimum is not None and maximum is not None:
        return f" {low} {minimum} and <= {maximum}"
    if minimum is not None:
        return f" {low} {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def _check_range(path: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise SpecError(path, f"must be >= {minimum} (got {_shown(value)})")
    if maximum is not None and value > maximum:
        raise SpecError(path, f"must be <= {maximum} (got {_shown(value)})")


def check_str(
    path: str,
    value: Any,
    *,
    pattern: str | re.Pattern[str] | None = None,
    description: str | None = None,
    max_length: int | None = None,
    allow_empty: bool = False,
) -> str:
    what = description or "a string"
    if not isinstance(value, str):
        raise SpecError(path, f"must be {what} (got {_shown(value)})")
    if not value and not allow_empty:
        raise SpecError(path, f"must be {what}, not empty")
    if max_length is not None and len(value) > max_length:
        raise SpecError(path, f"must be at most {max_length} characters (got {len(value)})")
    if pattern is not None and value and not re.fullmatch(pattern, value):
        raise SpecError(path, f"must be {what} (got {_shown(value)})")
    return value


def check_optional_str(path: str, value: Any, **kwargs: Any) -> str | None:
    return None if value is None else check_str(path, value, **kwargs)


def check_choice(path: str, value: Any, choices: Iterable[Any]) -> Any:
    allowed = list(choices)
    if isinstance(value, bool) and not any(isinstance(c, bool) for c in allowed):
        raise SpecError(path, f"must be one of {', '.join(map(str, allowed))} (got {_shown(value)})")
    if value not in allowed:
        raise SpecError(path, f"must be one of {', '.join(map(str, allowed))} (got {_shown(value)})")
    return value


def check_str_list(path: str, value: Any, **item_rules: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise SpecError(path, f"must be a list of strings (got {_shown(value)})")
    return tuple(check_str(f"{path}[{i}]", item, **item_rules) for i, item in enumerate(value))


def check_str_map(
    path: str,
    value: Any,
    *,
    key_pattern: str | None = None,
    key_description: str = "a string",
    max_key_length: int | None = None,
    max_value_length: int | None = None,
    scalars_to_str: bool = False,
) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise SpecError(path, f"must be a mapping of strings (got {_shown(value)})")
    result: dict[str, str] = {}
    for key, item in value.items():
        key_path = f"{path}.{key}"
        if not isinstance(key, str) or (key_pattern and not re.fullmatch(key_pattern, key)):
            raise SpecError(key_path, f"key must be {key_description} (got {_shown(key)})")
        if max_key_length is not None and len(key) > max_key_length:
            raise SpecError(key_path, f"key must be at most {max_key_length} characters (got {len(key)})")
        if scalars_to_str and isinstance(item, (bool, int, float)) and not isinstance(item, str):
            item = str(item).lower() if isinstance(item, bool) else str(item)
        if not isinstance(item, str):
            raise SpecError(key_path, f"must be a string (got {_shown(item)})")
        if max_value_length is not None and len(item) > max_value_length:
            raise SpecError(key_path, f"must be at most {max_value_length} characters (got {len(item)})")
        result[key] = item
    return result


def check_mapping_keys(path: str, data: Any, accepted: Iterable[str], required: Iterable[str] = ()) -> Mapping:
    """``data`` must be a mapping whose keys are all in ``accepted`` and include ``required``."""
    accepted = list(accepted)
    if not isinstance(data, Mapping):
        raise SpecError(path, f"must be a mapping with keys {', '.join(accepted)} (got {_shown(data)})")
    for key in data:
        if key not in accepted:
            raise SpecError(join_path(path, str(key)), f"unknown key; accepted keys: {', '.join(accepted)}")
    for key in required:
        if key not in data:
            raise SpecError(join_path(path, key), "is required")
    return data


def dataclass_keys(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]
