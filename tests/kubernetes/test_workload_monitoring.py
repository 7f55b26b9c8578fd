"""ModelWorkload ships the serving image's dashboard (a Grafana sidecar ConfigMap) and, when the Prometheus Operator's
CRDs exist, a ServiceMonitor and a PrometheusRule, all narrowed to the one workload."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import kubernetes_validate
import pulumi
import pytest
from conftest import make_service
from modelport import PROFILES, SpecError, Target, deploy
from modelport.kubernetes import ModelWorkload, ModelWorkloadArgs
from modelport.kubernetes.monitoring import scope

from serving_image import monitoring as schema

K8S_VERSIONS = ("1.33.0", kubernetes_validate.latest_version())
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
SERVICE = "kubernetes:core/v1:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CANARY = {"variants": [{"name": "stable", "weight": 90}, {"name": "canary", "weight": 10}]}

# Series names, derived here from the schema's kinds, not from the code under test: series -> metric.
SERIES_OF = {
    m.name + suffix: m.name
    for m in schema.SCHEMA
    for suffix in (("_bucket", "_sum", "_count") if m.kind == "histogram" else ("",))
}
SCHEMA_SERIES = set(SERIES_OF)
PROMQL_WORDS = {
    "sum",
    "by",
    "without",
    "rate",
    "histogram_quantile",
    "label_replace",
    "label_values",
    "and",
    "or",
    "unless",
    "e6",
}


def build(captured, service, profile: str = "prod", name: str = "churn", **options: Any) -> None:
    @pulumi.runtime.test
    def run():
        ModelWorkload(name, ModelWorkloadArgs(service=service, profile=PROFILES[profile], **options))

    run()


def metrics_read(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: what is left once strings, label lists, selectors, ranges,
    numbers and function names are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)
    text = re.sub(r"label_values\(([^,]*),\s*\w+\)", r"\1", text)  # Grafana's variable query names a label
    text = re.sub(r"\b(by|without)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b\d+(\.\d+)?(e\d+)?\b", " ", text)
    return set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text)) - PROMQL_WORDS


def selectors(expr: str) -> list[tuple[str, str]]:
    """(metric, selector text) for every serving-image metric an expression reads."""
    names = "|".join(sorted(SCHEMA_SERIES, key=len, reverse=True))
    return [(m[1], m[2] or "") for m in re.finditer(rf"\b({names})\b(?:\{{([^}}]*)\}})?", expr)]


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics for matchLabels and the operators the ServiceMonitor uses."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "In" and labels.get(key) not in expression["values"]:
            return False
        if operator == "NotIn" and labels.get(key) in expression["values"]:
            return False
    return True


def the_dashboard(captured) -> tuple[dict[str, Any], dict[str, Any]]:
    configmap = captured.one(CONFIGMAP).inputs
    ((key, text),) = configmap["data"].items()
    assert key.endswith(".json")
    return configmap, json.loads(text)


def test_the_dashboard_ships_as_a_sidecar_configmap_and_nothing_crd_based_by_default(pulumi_mocks, service) -> None:
    build(pulumi_mocks, service)
    configmap, board = the_dashboard(pulumi_mocks)
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["namespace"] == "churn"
    assert configmap["metadata"]["name"] == "churn-dashboard"
    assert set(configmap["data"]) == {"churn.churn.json"}
    assert not [r for r in pulumi_mocks.resources if "monitoring.coreos.com" in r.type]
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(configmap, version, strict=True)
    assert board["schemaVersion"] >= 36 and board["title"] == "modelport serving: churn/churn"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", board["uid"]), "Grafana uids are at most 40 characters"
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"]) >= 8


def test_every_dashboard_query_reads_only_schema_metrics_and_only_this_workload(pulumi_mocks, service) -> None:
    build(pulumi_mocks, service)
    _, board = the_dashboard(pulumi_mocks)
    expressions = [t["expr"] for p in board["panels"] for t in p["targets"]]
    expressions += [v["definition"] for v in board["templating"]["list"] if v["type"] == "query"]
    read: set[str] = set()
    for expr in expressions:
        names = metrics_read(expr)
        assert names and names <= SCHEMA_SERIES, (expr, names - SCHEMA_SERIES)
        read |= names
        for metric, selector in selectors(expr):
            assert 'namespace="churn"' in selector, (metric, expr)
    assert {SERIES_OF[n] for n in read} == {m.name for m in schema.SCHEMA}, "a panel for every metric"
    datasources = {p["datasource"]["uid"] for p in board["panels"]}
    assert datasources == {"${datasource}"}, "every panel reads the dashboard's data source variable"


def test_two_workloads_never_share_a_dashboard_uid_or_sidecar_file(pulumi_mocks) -> None:
    @pulumi.runtime.test
    def run():
        for namespace in ("team-a", "team-b"):
            ModelWorkload(
                namespace,
                ModelWorkloadArgs(
                    service=make_service(), profile=PROFILES["dev"], namespace=namespace, grafana_namespace="monitoring"
                ),
            )

    run()
    configmaps = [c.inputs for c in pulumi_mocks.by_type(CONFIGMAP)]
    assert {c["metadata"]["namespace"] for c in configmaps} == {"monitoring"}
    assert {c["metadata"]["name"] for c in configmaps} == {"team-a.churn-dashboard", "team-b.churn-dashboard"}
    keys = [key for c in configmaps for key in c["data"]]
    assert sorted(keys) == ["team-a.churn.json", "team-b.churn.json"]
    uids = {json.loads(text)["uid"] for c in configmaps for text in c["data"].values()}
    assert len(uids) == 2


def test_grafana_options_place_label_and_file_the_dashboard(pulumi_mocks, service) -> None:
    build(
        pulumi_mocks,
        service,
        grafana_namespace="grafana",
        grafana_labels={"dashboards": "ml"},
        grafana_folder="Models",
        grafana_folder_annotation="grafana.example.com/folder",
    )
    metadata = pulumi_mocks.one(CONFIGMAP).inputs["metadata"]
    assert metadata["namespace"] == "grafana"
    assert metadata["labels"]["dashboards"] == "ml" and "grafana_dashboard" not in metadata["labels"]
    assert metadata["annotations"] == {"grafana.example.com/folder": "Models"}


def test_the_dashboard_can_be_turned_off(pulumi_mocks, service) -> None:
    build(pulumi_mocks, service, grafana_dashboard=False)
    assert pulumi_mocks.by_type(CONFIGMAP) == []


def test_the_service_monitor_scrapes_only_the_metrics_port_of_every_track_once(pulumi_mocks) -> None:
    build(pulumi_mocks, make_service(grpc_port=8081, **CANARY), prometheus_operator=True)
    monitor = pulumi_mocks.one(SERVICE_MONITOR).inputs
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "ServiceMonitor"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    spec = monitor["spec"]
    services = {s.inputs["metadata"]["name"]: s.inputs for s in pulumi_mocks.by_type(SERVICE)}
    assert set(services) == {"churn", "churn-stable", "churn-canary"}
    selected = [n for n, s in services.items() if selects(spec["selector"], s["metadata"]["labels"])]
    assert selected == ["churn"], "the Service of all tracks only: the per-track ones would scrape pods twice"
    main = services["churn"]
    assert spec["namespaceSelector"] == {"matchNames": [main["metadata"]["namespace"]]}
    assert monitor["metadata"]["namespace"] == main["metadata"]["namespace"]
    # The Service of all tracks reaches the pods of every track.
    for deployment in pulumi_mocks.by_type(DEPLOYMENT):
        assert selects(
            {"matchLabels": main["spec"]["selector"]}, deployment.inputs["spec"]["template"]["metadata"]["labels"]
        )
    (endpoint,) = spec["endpoints"]
    ports = {p["name"]: p for p in main["spec"]["ports"]}
    assert endpoint["port"] in ports and ports[endpoint["port"]]["port"] == 8080, "the HTTP port, never gRPC"
    assert (endpoint["path"], endpoint["interval"]) == ("/metrics", "30s")
    assert spec["podTargetLabels"] == ["modelport.dev/track"], "canary and stable series stay apart"


def test_the_network_policy_lets_prometheus_scrape_the_metrics_port_and_nothing_else(pulumi_mocks) -> None:
    build(pulumi_mocks, make_service(grpc_port=8081, **CANARY), prometheus_operator=True, metrics_namespace="observe")
    policies = {p.name: p.inputs["spec"] for p in pulumi_mocks.by_type(NETPOL)}
    (rule,) = policies["churn-allow-metrics"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observe"}}}]
    assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
    selector = {"matchLabels": policies["churn-allow-metrics"]["podSelector"]["matchLabels"]}
    for deployment in pulumi_mocks.by_type(DEPLOYMENT):
        assert selects(selector, deployment.inputs["spec"]["template"]["metadata"]["labels"])


def test_the_prometheus_rule_holds_the_generated_groups_for_this_workload(pulumi_mocks, service) -> None:
    build(
        pulumi_mocks,
        service,
        prometheus_operator=True,
        prometheus_labels={"release": "monitoring"},
        alert_error_ratio=0.1,
        alert_p99_seconds=0.25,
        alert_for_minutes=10,
    )
    rule = pulumi_mocks.one(PROMETHEUS_RULE).inputs
    assert rule["metadata"]["labels"]["release"] == "monitoring"
    assert pulumi_mocks.one(SERVICE_MONITOR).inputs["metadata"]["labels"]["release"] == "monitoring"
    generated = schema.prometheus_rules(error_ratio=0.1, p99_seconds=0.25, for_minutes=10)
    groups = rule["spec"]["groups"]
    assert [g["name"] for g in groups] == [g["name"] for g in generated["groups"]]
    matchers = {"namespace": "churn", "service": "churn"}
    for ours, theirs in zip(groups, generated["groups"], strict=True):
        assert len(ours["rules"]) == len(theirs["rules"])
        for shipped, made in zip(ours["rules"], theirs["rules"], strict=True):
            assert shipped["expr"] == scope(made["expr"], matchers)
            assert {k: v for k, v in shipped.items() if k not in ("expr", "labels")} == {
                k: v for k, v in made.items() if k not in ("expr", "labels")
            }
            assert shipped["labels"] == {**matchers, **made.get("labels", {})}
            assert metrics_read(shipped["expr"]) <= SCHEMA_SERIES
    alerts = {r["alert"]: r for r in groups[1]["rules"]}
    assert alerts["ModelportHighErrorRatio"]["expr"].endswith("> 0.1")
    assert alerts["ModelportHighLatency"]["expr"].endswith("> 0.25")
    assert alerts["ModelportHighLatency"]["for"] == "10m"
    # The dashboard narrows by the Service label too once the ServiceMonitor sets it.
    _, board = the_dashboard(pulumi_mocks)
    assert all('service="churn"' in sel for p in board["panels"] for _, sel in selectors(p["targets"][0]["expr"]))


@pytest.mark.parametrize(
    ("options", "key", "fragment"),
    [
        ({"grafana_dashboard": "yes"}, "grafana_dashboard", "true or false"),
        ({"grafana_namespace": "Monitoring"}, "grafana_namespace", "namespace name"),
        ({"grafana_labels": {}}, "grafana_labels", "at least one label"),
        ({"grafana_labels": {"grafana dashboard": "1"}}, "grafana_labels.grafana dashboard", "label key"),
        ({"grafana_labels": {"grafana_dashboard": "yes please"}}, "grafana_labels.grafana_dashboard", "label value"),
        ({"grafana_folder_annotation": "grafana_folder"}, "grafana_folder_annotation", "set both"),
        ({"grafana_dashboard": False, "grafana_folder": "Models"}, "grafana_folder", "no effect"),
        ({"prometheus_operator": "true"}, "prometheus_operator", "true or false"),
        ({"prometheus_labels": {"release": "kps"}}, "prometheus_labels", "prometheus_operator: true"),
        ({"alert_for_minutes": 10}, "alert_for_minutes", "prometheus_operator: true"),
        ({"prometheus_operator": True, "metrics_namespace": None}, "prometheus_operator", "metrics_namespace"),
        ({"prometheus_operator": True, "scrape_interval": "30 seconds"}, "scrape_interval", "Prometheus duration"),
        ({"prometheus_operator": True, "alert_error_ratio": 1.5}, "alert_error_ratio", "<= 1"),
        ({"prometheus_operator": True, "alert_error_ratio": 1}, "alert_error_ratio", "< 1"),
        ({"prometheus_operator": True, "alert_p99_seconds": 0}, "alert_p99_seconds", "> 0"),
        ({"prometheus_operator": True, "alert_for_minutes": -1}, "alert_for_minutes", ">= 0"),
        ({"prometheus_operator": True, "prometheus_labels": {"release": "a b"}}, "prometheus_labels.release", "value"),
    ],
)
def test_bad_monitoring_options_are_refused_by_key_before_registration(
    pulumi_mocks, service, options, key, fragment
) -> None:
    target = Target(cloud="kubernetes", pattern="kubernetes", options=options, path="modelport:targets[0]")
    with pytest.raises(SpecError) as caught:
        deploy(service, target, PROFILES["prod"])
    assert caught.value.path == f"modelport:targets[0].options.{key}"
    assert fragment in caught.value.reason
    assert pulumi_mocks.resources == []


def test_the_generator_needs_nothing_beyond_the_standard_library() -> None:
    """`modelport plan` installs only the `plan` extra (no numpy, no server), so the schema's generator, which
    ModelWorkload imports, must import nothing outside the standard library."""
    probe = (
        "import json, sys; before = set(sys.modules); import serving_image.monitoring; "
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names))))"
    )
    result = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == ["serving_image"]
