"""Invoke results the components depend on, checked: a missing field names the invoke instead of failing later."""

from __future__ import annotations

from typing import Any

import pulumi

__all__ = ["MissingInvokeResult", "required"]


class MissingInvokeResult(RuntimeError):
    """An invoke (data source) answered without a field a component needs: typically a unit-test mock."""


def required(result: Any, token: str, key: str) -> pulumi.Output[Any]:
    """``result.<key>`` of the invoke ``token``, failing with the invoke's name when the answer lacks it.

    Under ``pulumi.runtime.set_mocks`` with mocks that answer every call with ``{}``, components would otherwise
    crash deep inside (``len(None)``); this says which invoke to answer, or to use ``modelport.testing.Mocks``.
    """

    def check(value: Any) -> Any:
        if value is None or value == "" or value == []:
            raise MissingInvokeResult(
                f"the invoke {token} answered without {key!r}; a unit-test mock must answer it "
                "(modelport.testing.Mocks answers every invoke the components use)"
            )
        return value

    return pulumi.Output.from_input(getattr(result, key)).apply(check)
