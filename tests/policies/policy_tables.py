"""The fixture tables by cloud, each planned and evaluated at most once per test session."""

from __future__ import annotations

from functools import cache

import policy_cases_aws
import policy_cases_azure
import policy_cases_gcp
import policy_cases_kubernetes
from policy_cases import Case, TableRun, run_cases

TABLES: dict[str, list[Case]] = {
    "kubernetes": policy_cases_kubernetes.CASES,
    "aws": policy_cases_aws.CASES,
    "gcp": policy_cases_gcp.CASES,
    "azure": policy_cases_azure.CASES,
}


@cache
def table_run(table: str) -> TableRun:
    """A table planned under the mocks as prod (so prod-only rules apply) and evaluated once."""
    return run_cases(TABLES[table])
