"""Unit-test your own Pulumi program that uses modelport: realistic mocks, and a one-call plan with the policy report.

Pulumi's docs test programs with ``pulumi.runtime.set_mocks``. Plain mocks answer every invoke with nothing, and
the components need answers (availability zones, the caller's account, the region), so use :class:`Mocks`::

    pulumi.runtime.set_mocks(modelport.testing.Mocks(), preview=False)

or let :func:`plan` run the program, capture every resource and judge it with the policy pack::

    result = modelport.testing.plan(my_program)
    assert not result.policy.mandatory

An invoke that no mock answers fails with an error that names it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .plan.mocks import (
    MOCK_AWS_ACCOUNT,
    MOCK_AZURE_SUBSCRIPTION,
    MOCK_GCP_PROJECT,
    CapturedResource,
    MockContext,
    PlanMocks,
    UnmockedInvokeError,
)
from .plan.runner import Plan, PlanError, PolicyReport, run_program

__all__ = ["CapturedResource", "Mocks", "Plan", "PlanError", "PolicyReport", "UnmockedInvokeError", "plan"]


class Mocks(PlanMocks):
    """A ``pulumi.runtime.Mocks`` with the outputs and invokes modelport's components need.

    Resources get realistic ids, ARNs, names and URLs; invokes (zones, caller identity, partition, region,
    certificates, clusters, ...) are answered for the provider's region. Pass your own account, project or
    subscription to see them in ARNs and IDs; the defaults are documentation placeholders.
    """

    def __init__(
        self,
        *,
        aws_account: str = MOCK_AWS_ACCOUNT,
        gcp_project: str = MOCK_GCP_PROJECT,
        azure_subscription: str = MOCK_AZURE_SUBSCRIPTION,
        config: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            MockContext(
                aws_account=aws_account,
                gcp_project=gcp_project,
                azure_subscription=azure_subscription,
                config=dict(config or {}),
            )
        )


def plan(
    program: Callable[[], Any],
    *,
    environment: str | None = None,
    config: Mapping[str, Any] | None = None,
    project: str = "test",
    stack: str = "test",
    policies: bool = True,
) -> Plan:
    """Run ``program`` under :class:`Mocks`; return what it registered, its outputs and the policy report.

    ``environment`` sets ``modelport:environment`` in the config; the plan is judged as the strictest of that
    and the profiles the components were built with. ``policies=False`` skips the pack (then
    ``result.policy.skipped`` says so); with ``policies=True`` the ``policy`` extra must be installed.
    """
    values = dict(config or {})
    if environment is not None:
        values["modelport:environment"] = environment
    result = run_program(program, project=project, stack=stack, config=values, preview=False)
    if policies:
        from .plan.policy import evaluate_plan

        result.policy = evaluate_plan(result)
    else:
        result.policy = PolicyReport(skipped="policies=False was passed to modelport.testing.plan")
    return result
