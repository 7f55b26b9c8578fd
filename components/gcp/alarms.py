"""Cloud Monitoring alert policies on a pattern's error rate and p99 latency, with the notification channels."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from .options import GcpArgs

__all__ = ["MetricSource", "alert_policies"]


@dataclass(frozen=True)
class MetricSource:
    """Where a pattern's request metrics live: the monitored resource filter and the metric types."""

    resource_filter: pulumi.Input[str]
    requests: str
    errors_label: str  # the filter that selects server errors among ``requests``
    latency: str
    latency_unit_ms: bool = True


def alert_policies(
    parent: pulumi.Resource, name: str, args: GcpArgs, source: MetricSource
) -> list[gcp.monitoring.AlertPolicy]:
    """An error-rate and a p99-latency alert policy, or none when alarms are off for the environment."""
    if not args.alarms_enabled:
        return []
    child = pulumi.ResourceOptions(parent=parent)
    base = pulumi.Output.from_input(source.resource_filter)
    notify = list(args.notification_channels)
    errors = gcp.monitoring.AlertPolicy(
        f"{name}-error-rate",
        project=args.project,
        display_name=f"{name}: server error rate above {args.alarm_error_rate_percent}%",
        combiner="OR",
        severity="ERROR",
        notification_channels=notify,
        conditions=[
            {
                "display_name": "5xx responses / all responses",
                "condition_threshold": {
                    "filter": base.apply(
                        lambda f: f'{f} AND metric.type="{source.requests}" AND {source.errors_label}'
                    ),
                    "denominator_filter": base.apply(lambda f: f'{f} AND metric.type="{source.requests}"'),
                    "aggregations": [
                        {
                            "alignment_period": "60s",
                            "per_series_aligner": "ALIGN_RATE",
                            "cross_series_reducer": "REDUCE_SUM",
                        }
                    ],
                    "denominator_aggregations": [
                        {
                            "alignment_period": "60s",
                            "per_series_aligner": "ALIGN_RATE",
                            "cross_series_reducer": "REDUCE_SUM",
                        }
                    ],
                    "comparison": "COMPARISON_GT",
                    "threshold_value": args.alarm_error_rate_percent / 100,
                    "duration": "300s",
                    "trigger": {"count": 1},
                },
            }
        ],
        documentation={"content": f"More than {args.alarm_error_rate_percent}% of requests to {name} fail with 5xx."},
        user_labels=args.resource_labels,
        opts=child,
    )
    latency = gcp.monitoring.AlertPolicy(
        f"{name}-p99-latency",
        project=args.project,
        display_name=f"{name}: p99 latency above {args.alarm_p99_latency_ms} ms",
        combiner="OR",
        severity="WARNING",
        notification_channels=notify,
        conditions=[
            {
                "display_name": "p99 request latency",
                "condition_threshold": {
                    "filter": base.apply(lambda f: f'{f} AND metric.type="{source.latency}"'),
                    "aggregations": [
                        {
                            "alignment_period": "60s",
                            "per_series_aligner": "ALIGN_PERCENTILE_99",
                            "cross_series_reducer": "REDUCE_MAX",
                        }
                    ],
                    "comparison": "COMPARISON_GT",
                    "threshold_value": float(args.alarm_p99_latency_ms),
                    "duration": "300s",
                    "trigger": {"count": 1},
                },
            }
        ],
        documentation={"content": f"The 99th percentile latency of {name} is above {args.alarm_p99_latency_ms} ms."},
        user_labels=args.resource_labels,
        opts=child,
    )
    return [errors, latency]
