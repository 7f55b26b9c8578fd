"""Offline planning: run a Pulumi program under mocks, capture its resources, and judge them with the policy pack."""

from .mocks import CapturedResource, PlanMocks
from .runner import Plan, PolicyReport, Violation, plan_stack, run_program

__all__ = ["CapturedResource", "Plan", "PlanMocks", "PolicyReport", "Violation", "plan_stack", "run_program"]
