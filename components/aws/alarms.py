"""CloudWatch alarms every pattern raises: the 5xx error rate and the p99 latency of the model service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from .naming import stack_unique_name

__all__ = ["ALARM_DETECTION_SECONDS", "ServiceMetrics", "service_alarms"]

PERIOD_SECONDS = 60
DATAPOINTS_TO_ALARM = 3
# The shortest time in which an alarm can go off: it needs DATAPOINTS_TO_ALARM breaching periods.
ALARM_DETECTION_SECONDS = PERIOD_SECONDS * DATAPOINTS_TO_ALARM


@dataclass(frozen=True)
class ServiceMetrics:
    """Where a pattern's request metrics live in CloudWatch.

    ``error_metrics`` are summed and divided by ``request_metric`` for the error rate. ``latency_scale``
    converts the threshold in milliseconds into the latency metric's own unit.
    """

    namespace: str
    dimensions: Mapping[str, pulumi.Input[str]]
    request_metric: str
    error_metrics: Sequence[str]
    latency_metric: str
    latency_scale: float = 1.0
    label: str = ""


def service_alarms(
    name: str,
    metrics: ServiceMetrics,
    *,
    error_rate_percent: float,
    p99_latency_ms: int,
    actions: Sequence[str],
    parent: pulumi.Resource,
) -> tuple[aws.cloudwatch.MetricAlarm, aws.cloudwatch.MetricAlarm]:
    """An error-rate alarm (metric math over sums) and a p99 latency alarm; missing data is not breaching."""
    opts = pulumi.ResourceOptions(parent=parent)
    dims = dict(metrics.dimensions)
    queries = [
        {
            "id": f"e{i}",
            "return_data": False,
            "metric": {
                "namespace": metrics.namespace,
                "metric_name": metric,
                "dimensions": dims,
                "period": PERIOD_SECONDS,
                "stat": "Sum",
            },
        }
        for i, metric in enumerate(metrics.error_metrics)
    ]
    queries.append(
        {
            "id": "requests",
            "return_data": False,
            "metric": {
                "namespace": metrics.namespace,
                "metric_name": metrics.request_metric,
                "dimensions": dims,
                "period": PERIOD_SECONDS,
                "stat": "Sum",
            },
        }
    )
    errors = " + ".join(f"FILL(e{i}, 0)" for i in range(len(metrics.error_metrics)))
    queries.append(
        {
            "id": "error_rate",
            "return_data": True,
            "label": "5xx error rate (%)",
            "expression": f"IF(requests > 0, 100 * ({errors}) / requests, 0)",
        }
    )
    suffix = f"-{metrics.label}" if metrics.label else ""
    error_alarm = aws.cloudwatch.MetricAlarm(
        f"{name}{suffix}-5xx-rate",
        name=stack_unique_name(f"{name}{suffix}-5xx-rate", 255),
        alarm_description=f"More than {error_rate_percent}% of requests to {name}{suffix} failed with 5xx.",
        comparison_operator="GreaterThanThreshold",
        threshold=error_rate_percent,
        evaluation_periods=5,
        datapoints_to_alarm=DATAPOINTS_TO_ALARM,
        metric_queries=queries,
        treat_missing_data="notBreaching",
        alarm_actions=list(actions),
        ok_actions=list(actions),
        opts=opts,
    )
    latency_alarm = aws.cloudwatch.MetricAlarm(
        f"{name}{suffix}-p99-latency",
        name=stack_unique_name(f"{name}{suffix}-p99-latency", 255),
        alarm_description=f"p99 latency of {name}{suffix} above {p99_latency_ms} ms.",
        namespace=metrics.namespace,
        metric_name=metrics.latency_metric,
        dimensions=dims,
        extended_statistic="p99",
        period=PERIOD_SECONDS,
        comparison_operator="GreaterThanThreshold",
        threshold=p99_latency_ms * metrics.latency_scale,
        evaluation_periods=5,
        datapoints_to_alarm=DATAPOINTS_TO_ALARM,
        treat_missing_data="notBreaching",
        alarm_actions=list(actions),
        ok_actions=list(actions),
        opts=opts,
    )
    return error_alarm, latency_alarm


def configured_alarms(
    name: str, metrics: ServiceMetrics, args: Any, parent: pulumi.Resource
) -> tuple[aws.cloudwatch.MetricAlarm, aws.cloudwatch.MetricAlarm]:
    """``service_alarms`` with the thresholds and actions of a pattern's options (``alarm_*``).

    Prod alarms notify someone: without ``alarm_actions`` the component gets one SNS topic for its alarms
    (``component.alarm_topic``, encrypted with the foundation's key), and the plan says so.
    """
    return service_alarms(
        name,
        metrics,
        error_rate_percent=args.alarm_error_rate_percent,
        p99_latency_ms=args.alarm_p99_latency_ms,
        actions=alarm_actions(name, args, parent),
        parent=parent,
    )


def alarm_actions(name: str, args: Any, parent: pulumi.Resource) -> list[pulumi.Input[str]]:
    """The alarm actions: the configured topics, or in prod the component's own topic (created once)."""
    if args.alarm_actions or args.profile.name != "prod":
        return list(args.alarm_actions)
    topic = getattr(parent, "alarm_topic", None)
    if topic is None:
        foundation = getattr(parent, "foundation", None)
        key = getattr(foundation, "kms_key_arn", None)
        topic = aws.sns.Topic(
            f"{name}-alarms",
            name=stack_unique_name(f"{name}-alarms", 256),
            kms_master_key_id=key,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        parent.alarm_topic = topic  # type: ignore[attr-defined]
        pulumi.log.warn(
            f"{name}: prod alarms need someone to notify and alarm_actions is empty, so modelport created the SNS "
            f"topic {name}-alarms for them; subscribe your on-call to it, or set alarm_actions",
            resource=parent,
        )
    return [topic.arn]
