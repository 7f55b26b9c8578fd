"""The serving image's metric schema, declared once, and what is generated from it: a Grafana dashboard, the
Prometheus alert rules, and recording rules that give the metrics the KServe and Triton names existing
dashboards query. Pure Python with no server imports, so deployment code can call :func:`grafana_dashboard`
and :func:`prometheus_rules` (for a ConfigMap with the Grafana sidecar label and a PrometheusRule):

    python -m serving_image.monitoring --out DIR    # writes dashboard.json and rules.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: str  # "histogram" | "counter" | "gauge"
    labels: tuple[str, ...]
    help: str


# The one schema. tests/serving/test_serving_monitoring.py checks that a running server exports exactly these
# names with these labels, and that every generated query reads only these.
SCHEMA: tuple[MetricSpec, ...] = (
    MetricSpec(
        "modelport_request_duration_seconds",
        "histogram",
        ("model", "protocol", "route", "status"),
        "Every request, HTTP or gRPC: its time to the end of the answer; _count counts requests. model is a "
        'served name or "" (never free text); protocol is http or grpc; route is the route template or gRPC '
        "method; status is the HTTP status or the gRPC code name.",
    ),
    MetricSpec(
        "modelport_queue_seconds",
        "histogram",
        ("model",),
        "Time a request waited in its model's batch queue.",
    ),
    MetricSpec("modelport_inference_seconds", "histogram", ("model",), "Time the runtime took for one batch."),
    MetricSpec("modelport_batch_size", "histogram", ("model",), "Rows per inference call."),
    MetricSpec("modelport_in_flight_requests", "gauge", (), "Requests (HTTP and gRPC) being served right now."),
    MetricSpec(
        "modelport_rejections_total",
        "counter",
        ("reason",),
        "Requests refused before inference: queue_full, deadline, not_ready, too_large, request_bodies_held.",
    ),
    MetricSpec(
        "modelport_model_ready",
        "gauge",
        ("model",),
        "1 once the model or pipeline is loaded and warm; 0 while loading, after a failed load and while draining.",
    ),
    MetricSpec(
        "modelport_pipeline_step_duration_seconds",
        "histogram",
        ("pipeline", "step", "status"),
        "Time of one pipeline step; status is ok, error, timeout or cancelled.",
    ),
)

METRICS = {metric.name: metric for metric in SCHEMA}

# Inference calls, as opposed to health and metadata: predict and infer routes on every protocol.
INFER_ROUTES = 'route=~".*(:predict|/infer|/invocations|/ModelInfer|/Predict)$"'
OK_STATUS = 'status=~"2..|OK"'
SERVER_ERROR_STATUS = 'status=~"5..|INTERNAL|UNAVAILABLE|DEADLINE_EXCEEDED|UNKNOWN"'


def recording_rules() -> list[dict[str, str]]:
    """Series under the names Triton (``nv_inference_*``, label ``model``) and KServe's Python server
    (``request_predict_seconds``, label ``model_name``) export, computed from ours."""
    request = "modelport_request_duration_seconds"
    as_kserve = 'label_replace({expr}, "model_name", "$1", "model", "(.*)")'
    rules = [
        ("nv_inference_request_success", f"sum by (model) ({request}_count{{{INFER_ROUTES},{OK_STATUS}}})"),
        (
            "nv_inference_request_failure",
            f'sum by (model) ({request}_count{{{INFER_ROUTES},status!~"2..|OK"}})',
        ),
        ("nv_inference_count", "sum by (model) (modelport_batch_size_sum)"),
        ("nv_inference_exec_count", "sum by (model) (modelport_batch_size_count)"),
        ("nv_inference_request_duration_us", f"sum by (model) ({request}_sum{{{INFER_ROUTES}}}) * 1e6"),
        ("nv_inference_queue_duration_us", "sum by (model) (modelport_queue_seconds_sum) * 1e6"),
        ("nv_inference_compute_infer_duration_us", "sum by (model) (modelport_inference_seconds_sum) * 1e6"),
        ("nv_inference_pending_request_count", "sum (modelport_in_flight_requests)"),
        (
            "request_predict_seconds_bucket",
            as_kserve.format(expr=f"sum by (model, le) ({request}_bucket{{{INFER_ROUTES}}})"),
        ),
        ("request_predict_seconds_sum", as_kserve.format(expr=f"sum by (model) ({request}_sum{{{INFER_ROUTES}}})")),
        (
            "request_predict_seconds_count",
            as_kserve.format(expr=f"sum by (model) ({request}_count{{{INFER_ROUTES}}})"),
        ),
    ]
    return [{"record": name, "expr": expr} for name, expr in rules]


def alert_rules(*, error_ratio: float = 0.05, p99_seconds: float = 1.0, for_minutes: int = 5) -> list[dict[str, Any]]:
    request = "modelport_request_duration_seconds"
    window = "5m"
    p99 = f"histogram_quantile(0.99, sum by (model, le) (rate({request}_bucket{{{INFER_ROUTES}}}[{window}])))"
    errors = f"sum by (model) (rate({request}_count{{{INFER_ROUTES},{SERVER_ERROR_STATUS}}}[{window}]))"
    total = f"sum by (model) (rate({request}_count{{{INFER_ROUTES}}}[{window}]))"
    alerts = [
        (
            "ModelportModelNotReady",
            "modelport_model_ready == 0",
            "critical",
            "Model {{ $labels.model }} on {{ $labels.instance }} is not ready (loading, failed or draining).",
        ),
        (
            "ModelportHighErrorRatio",
            f"({errors}) / ({total}) > {error_ratio:g}",
            "critical",
            f"More than {error_ratio:.0%} of inference calls to {{{{ $labels.model }}}} fail with a server error.",
        ),
        (
            "ModelportHighLatency",
            f"{p99} > {p99_seconds:g}",
            "warning",
            f"p99 latency of {{{{ $labels.model }}}} is over {p99_seconds:g} s.",
        ),
        (
            "ModelportQueueFull",
            f'sum by (instance) (rate(modelport_rejections_total{{reason="queue_full"}}[{window}])) > 0',
            "warning",
            "{{ $labels.instance }} refuses requests because its batch queue is full: scale out.",
        ),
        (
            "ModelportDeadlineExceeded",
            f'sum by (instance) (rate(modelport_rejections_total{{reason="deadline"}}[{window}])) > 0',
            "warning",
            "{{ $labels.instance }} answers 504: requests outlive REQUEST_TIMEOUT_SECONDS.",
        ),
        (
            "ModelportPipelineStepFailing",
            "sum by (pipeline, step) (rate(modelport_pipeline_step_duration_seconds_count"
            f'{{status=~"error|timeout"}}[{window}])) > 0',
            "warning",
            "Step {{ $labels.step }} of pipeline {{ $labels.pipeline }} fails or times out.",
        ),
    ]
    return [
        {
            "alert": name,
            "expr": expr,
            "for": f"{for_minutes}m",
            "labels": {"severity": severity},
            "annotations": {"summary": summary},
        }
        for name, expr, severity, summary in alerts
    ]


def prometheus_rules(**thresholds: Any) -> dict[str, Any]:
    """The ``spec`` of a PrometheusRule (and the body of a Prometheus rule file): recording and alert groups."""
    return {
        "groups": [
            {"name": "modelport-serving-aliases", "rules": recording_rules()},
            {"name": "modelport-serving-alerts", "rules": alert_rules(**thresholds)},
        ]
    }


_PANELS: tuple[tuple[str, str, str, str], ...] = (
    # title, unit, legend, expression ($model is the dashboard's model variable)
    (
        "Requests per second by model and status",
        "reqps",
        "{{model}} {{protocol}} {{status}}",
        'sum by (model, protocol, status) (rate(modelport_request_duration_seconds_count{model=~"$model",'
        + INFER_ROUTES
        + "}[$__rate_interval]))",
    ),
    (
        "Server error ratio",
        "percentunit",
        "{{model}}",
        'sum by (model) (rate(modelport_request_duration_seconds_count{model=~"$model",'
        + INFER_ROUTES
        + ","
        + SERVER_ERROR_STATUS
        + '}[$__rate_interval])) / sum by (model) (rate(modelport_request_duration_seconds_count{model=~"$model",'
        + INFER_ROUTES
        + "}[$__rate_interval]))",
    ),
    (
        "Latency p50 / p99",
        "s",
        "{{model}} p99",
        "histogram_quantile(0.99, sum by (model, le) (rate(modelport_request_duration_seconds_bucket"
        '{model=~"$model",' + INFER_ROUTES + "}[$__rate_interval])))",
    ),
    (
        "Queue time p99",
        "s",
        "{{model}}",
        "histogram_quantile(0.99, sum by (model, le) (rate(modelport_queue_seconds_bucket"
        '{model=~"$model"}[$__rate_interval])))',
    ),
    (
        "Inference time per batch p99",
        "s",
        "{{model}}",
        "histogram_quantile(0.99, sum by (model, le) (rate(modelport_inference_seconds_bucket"
        '{model=~"$model"}[$__rate_interval])))',
    ),
    (
        "Mean batch size",
        "none",
        "{{model}}",
        'sum by (model) (rate(modelport_batch_size_sum{model=~"$model"}[$__rate_interval])) / sum by (model) '
        '(rate(modelport_batch_size_count{model=~"$model"}[$__rate_interval]))',
    ),
    ("In-flight requests", "none", "{{instance}}", "sum by (instance) (modelport_in_flight_requests)"),
    (
        "Rejections per second",
        "reqps",
        "{{reason}}",
        "sum by (reason) (rate(modelport_rejections_total[$__rate_interval]))",
    ),
    ("Models ready", "none", "{{model}} {{instance}}", 'modelport_model_ready{model=~"$model"}'),
    (
        "Pipeline step p99",
        "s",
        "{{pipeline}} / {{step}}",
        "histogram_quantile(0.99, sum by (pipeline, step, le) "
        "(rate(modelport_pipeline_step_duration_seconds_bucket[$__rate_interval])))",
    ),
    (
        "Pipeline step failures per second",
        "reqps",
        "{{pipeline}} / {{step}} {{status}}",
        "sum by (pipeline, step, status) (rate(modelport_pipeline_step_duration_seconds_count"
        '{status!="ok"}[$__rate_interval]))',
    ),
)


def grafana_dashboard(datasource_uid: str = "${datasource}") -> dict[str, Any]:
    """A Grafana dashboard (schema version 39) with a panel per question the schema answers, two per row."""
    datasource = {"type": "prometheus", "uid": datasource_uid}
    panels = []
    for index, (title, unit, legend, expr) in enumerate(_PANELS):
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": title,
                "datasource": datasource,
                "gridPos": {"x": (index % 2) * 12, "y": (index // 2) * 8, "w": 12, "h": 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": [{"refId": "A", "datasource": datasource, "expr": expr, "legendFormat": legend}],
            }
        )
    return {
        "uid": "modelport-serving",
        "title": "modelport serving",
        "tags": ["modelport", "serving"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
                {
                    "name": "model",
                    "type": "query",
                    "label": "Model",
                    "datasource": datasource,
                    "query": {"query": "label_values(modelport_model_ready, model)", "refId": "model"},
                    "definition": "label_values(modelport_model_ready, model)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "refresh": 2,
                },
            ]
        },
        "panels": panels,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving_image.monitoring", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder for dashboard.json and rules.json")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dashboard.json").write_text(json.dumps(grafana_dashboard(), indent=2) + "\n")
    (args.out / "rules.json").write_text(json.dumps(prometheus_rules(), indent=2) + "\n")
    print(f"wrote {args.out / 'dashboard.json'} and {args.out / 'rules.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
