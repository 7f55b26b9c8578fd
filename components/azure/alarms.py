"""Azure Monitor metric alerts on a pattern's error count and latency, with the action groups of the options."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azure_native as azure_native

from .iam import AzureContext
from .options import AzureArgs

__all__ = ["MetricSignal", "error_and_latency_alerts"]


@dataclass(frozen=True)
class MetricSignal:
    """Where a pattern's errors and latency show up in Azure Monitor.

    namespace: the metric namespace (the resource type); errors: (metric, dimension, 5xx values) counted with
    Total; latency: a metric in milliseconds judged on its Average.
    """

    namespace: str
    errors_metric: str
    errors_dimension: str
    errors_values: tuple[str, ...]
    latency_metric: str


APP_GATEWAY = MetricSignal(
    "Microsoft.Network/applicationGateways",
    "ResponseStatus",
    "HttpStatusGroup",
    ("5xx",),
    "ApplicationGatewayTotalTime",
)
CONTAINER_APP = MetricSignal("Microsoft.App/containerApps", "Requests", "statusCodeCategory", ("5xx",), "ResponseTime")
WEB_APP = MetricSignal("Microsoft.Web/sites", "Http5xx", "Instance", ("*",), "HttpResponseTime")
ML_ENDPOINT = MetricSignal(
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
    "RequestsPerMinute",
    "statusCodeClass",
    ("5xx",),
    "RequestLatency",
)


def error_and_latency_alerts(
    name: str,
    args: AzureArgs,
    ctx: AzureContext,
    scope: pulumi.Input[str],
    signal: MetricSignal,
    parent: pulumi.Resource,
) -> Sequence[azure_native.monitor.MetricAlert]:
    """Two alerts on ``scope`` when the profile (or ``alerts``) turns them on: 5xx responses over 5 minutes above
    ``alert_errors_per_5m``, and average latency above ``alert_latency_ms``."""
    if not args.alerts_enabled:
        return []
    actions = [{"action_group_id": group} for group in args.action_group_ids]
    # The Http5xx metric of App Service counts only errors; others split requests by a status dimension.
    error_dimensions = (
        []
        if signal.errors_values == ("*",)
        else [{"name": signal.errors_dimension, "operator": "Include", "values": list(signal.errors_values)}]
    )
    common = {
        "resource_group_name": ctx.resource_group_name,
        "location": "global",
        "scopes": [scope],
        "enabled": True,
        "auto_mitigate": True,
        "evaluation_frequency": "PT1M",
        "window_size": "PT5M",
        "target_resource_type": signal.namespace,
        "target_resource_region": ctx.location,
        "actions": actions,
    }
    errors = azure_native.monitor.MetricAlert(
        f"{name}-errors-alert",
        description=f"More than {args.alert_errors_per_5m} server errors (5xx) in 5 minutes",
        severity=1,
        criteria=_criteria(
            "server-errors", signal.errors_metric, signal, error_dimensions, args.alert_errors_per_5m, "Total"
        ),
        opts=pulumi.ResourceOptions(parent=parent),
        **common,
    )
    latency = azure_native.monitor.MetricAlert(
        f"{name}-latency-alert",
        description=f"Average latency above {args.alert_latency_ms} ms over 5 minutes",
        severity=2,
        criteria=_criteria("latency", signal.latency_metric, signal, [], args.alert_latency_ms, "Average"),
        opts=pulumi.ResourceOptions(parent=parent),
        **common,
    )
    return [errors, latency]


def _criteria(
    label: str, metric: str, signal: MetricSignal, dimensions: list[dict[str, object]], threshold: int, aggregation: str
) -> azure_native.monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs:
    """One static threshold on one metric. Typed args: the criteria are a union a plain dict cannot name."""
    return azure_native.monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
        odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
        all_of=[
            azure_native.monitor.MetricCriteriaArgs(
                criterion_type="StaticThresholdCriterion",
                name=label,
                metric_namespace=signal.namespace,
                metric_name=metric,
                dimensions=[azure_native.monitor.MetricDimensionArgs(**d) for d in dimensions],  # type: ignore[arg-type]
                operator="GreaterThan",
                threshold=threshold,
                time_aggregation=aggregation,
            )
        ],
    )
