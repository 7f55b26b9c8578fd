"""The serving image's Grafana dashboard and Prometheus rules, scoped to one ModelWorkload.

``serving_image.monitoring`` generates them from the metric schema for every server at once. A cluster runs
several workloads, so each one ships its own copy: every metric selector gains the workload's label matchers
(its namespace, and the ``service`` label the ServiceMonitor sets), the dashboard gets its own uid and title,
and the rules' results carry the workload's labels so two workloads never record the same series.
``serving_image.monitoring`` imports only the standard library, so ``modelport plan`` needs no server package.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from serving_image import monitoring as schema

__all__ = ["dashboard", "metric_names", "rules", "scope"]

_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("",), "gauge": ("",)}


def metric_names() -> frozenset[str]:
    """Every series name the serving image exports: gauges and counters as declared, histograms by suffix."""
    return frozenset(m.name + suffix for m in schema.SCHEMA for suffix in _SUFFIXES[m.kind])


# Longest first, so a histogram's _bucket series is never read as its base name; a name only counts when no
# identifier character touches it on either side (a label value or another identifier is left alone).
_REFERENCE = re.compile(
    r"(?<![A-Za-z0-9_:\"])("
    + "|".join(re.escape(n) for n in sorted(metric_names(), key=len, reverse=True))
    + r")(?![A-Za-z0-9_:])(\s*\{)?"
)


def _quoted(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _matcher_text(matchers: Mapping[str, str]) -> str:
    return ",".join(f"{key}={_quoted(value)}" for key, value in matchers.items())


def scope(expr: str, matchers: Mapping[str, str]) -> str:
    """``expr`` with ``matchers`` added to the selector of every serving-image metric it reads."""
    if not matchers:
        return expr
    text = _matcher_text(matchers)

    def add(match: re.Match[str]) -> str:
        return f"{match[1]}{{{text}," if match[2] else f"{match[1]}{{{text}}}"

    return _REFERENCE.sub(add, expr)


def dashboard(*, namespace: str, service: str, matchers: Mapping[str, str]) -> dict[str, Any]:
    """The serving dashboard for one workload: its own uid (Grafana refuses two dashboards with one uid) and
    title, every query and the model variable narrowed to the workload's series."""
    board = schema.grafana_dashboard()
    digest = hashlib.sha256(f"{namespace}/{service}".encode()).hexdigest()[:16]
    board["uid"] = f"modelport-{digest}"  # Grafana uids are at most 40 characters
    board["title"] = f"modelport serving: {namespace}/{service}"
    for panel in board["panels"]:
        for target in panel["targets"]:
            target["expr"] = scope(target["expr"], matchers)
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            variable["definition"] = scope(variable["definition"], matchers)
            variable["query"]["query"] = scope(variable["query"]["query"], matchers)
    return board


def rules(
    *,
    matchers: Mapping[str, str],
    labels: Mapping[str, str],
    error_ratio: float,
    p99_seconds: float,
    for_minutes: int,
) -> dict[str, Any]:
    """The PrometheusRule ``spec``: the generated recording and alert groups, each expression narrowed to the
    workload's series and each result labelled with ``labels`` (the aggregations drop the scrape labels)."""
    spec = schema.prometheus_rules(error_ratio=error_ratio, p99_seconds=p99_seconds, for_minutes=for_minutes)
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule["expr"] = scope(rule["expr"], matchers)
            rule["labels"] = {**dict(labels), **rule.get("labels", {})}
    return spec
