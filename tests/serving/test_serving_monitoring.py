"""The metric schema against a running server, and the dashboard, alert and recording rules generated from it:
every query reads only metrics and labels the server exports, and the dashboard is well formed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from serving_image import monitoring
from serving_image.monitoring import METRICS, SCHEMA, grafana_dashboard, prometheus_rules

from .serving_helpers import ThreadedServer, request
from .test_serving_pipelines import write_repository

SUFFIXES = ("_bucket", "_sum", "_count", "_total")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Metric family → label names, from /metrics of a server that served models, a pipeline, gRPC and errors."""
    tmp = tmp_path_factory.mktemp("monitoring")
    opener, _ = write_repository(tmp / "repo")
    env = {"MAX_REQUEST_BYTES": "2048"}
    with ThreadedServer(tmp, None, env, model_dir=tmp / "repo", opener=opener) as server:
        request(server.port, "POST", "/v1/models/ident:predict", {"instances": [[1.0, 2.0]] * 400})  # 413
        request(server.port, "POST", "/v1/models/chain:predict", {"instances": [[1.0, 2.0]]})
        request(server.port, "POST", "/v1/models/broken:predict", {"instances": [[1.0, 2.0]]})
        request(server.port, "POST", "/v1/models/ident:predict", {"instances": [[1.0, 2.0, 3.0]]})
        text = request(server.port, "GET", "/metrics").body.decode()
    families: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        if family.name.endswith("_created"):  # prometheus_client's creation time of the counter
            continue
        labels = families.setdefault(family.name, set())
        for sample in family.samples:
            labels.update(k for k in sample.labels if k != "le")
    return families


def test_the_server_exports_exactly_the_schema(exported: dict[str, set[str]]) -> None:
    # prometheus_client names counter families without _total.
    declared = {m.name.removesuffix("_total") if m.kind == "counter" else m.name: m for m in SCHEMA}
    assert set(exported) == set(declared)
    for name, labels in exported.items():
        assert labels == set(declared[name].labels), name


def _metric_uses(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names in its selector) for each metric named in a PromQL expression."""
    uses = []
    for match in re.finditer(r"\b(modelport_[a-z_]+)(\{([^}]*)\})?", expr):
        labels = set(re.findall(r"([a-z_]+)\s*(?:=~|!~|!=|=)", match[3] or ""))
        uses.append((match[1], labels))
    return uses


def _base(name: str) -> str:
    if name in METRICS:
        return name
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in METRICS:
            return name.removesuffix(suffix)
    raise AssertionError(f"{name} is not in the schema")


def _check_query(expr: str) -> None:
    assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
    uses = _metric_uses(expr)
    assert uses, f"no schema metric in {expr}"
    for name, labels in uses:
        spec = METRICS[_base(name)]
        allowed = set(spec.labels) | ({"le"} if spec.kind == "histogram" else set())
        assert labels <= allowed, f"{name} has no label {labels - allowed} in {expr}"
    for grouping in re.findall(r"by \(([^)]*)\)", expr):
        names = {n.strip() for n in grouping.split(",")}
        known = {label for name, _ in uses for label in METRICS[_base(name)].labels} | {"le", "instance"}
        assert names <= known, f"grouping by {names - known} in {expr}"


def test_every_generated_query_reads_only_the_schema() -> None:
    for panel in grafana_dashboard()["panels"]:
        for target in panel["targets"]:
            _check_query(target["expr"])
    for group in prometheus_rules()["groups"]:
        for rule in group["rules"]:
            _check_query(rule["expr"])


def test_the_dashboard_is_well_formed() -> None:
    dashboard = json.loads(json.dumps(grafana_dashboard()))  # plain JSON, as the ConfigMap carries it
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        area = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"panel {panel['title']!r} overlaps another"
        cells |= area
        assert panel["type"] == "timeseries" and panel["targets"]
        for target in panel["targets"]:
            assert target["refId"] and target["expr"]
            for variable in re.findall(r"\$([a-z_]+)", target["expr"] + json.dumps(panel["datasource"])):
                assert variable in variables or variable.startswith("_"), variable
    assert {"model", "datasource"} <= variables


def test_the_rules_alias_triton_and_kserve_names_and_every_alert_is_complete() -> None:
    groups = {group["name"]: group["rules"] for group in prometheus_rules()["groups"]}
    recorded = {rule["record"] for rule in groups["modelport-serving-aliases"]}
    assert {
        "nv_inference_request_success",
        "nv_inference_request_failure",
        "nv_inference_count",
        "nv_inference_exec_count",
        "nv_inference_request_duration_us",
        "nv_inference_queue_duration_us",
        "nv_inference_compute_infer_duration_us",
        "request_predict_seconds_bucket",
    } <= recorded
    assert all(re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name) for name in recorded)
    alerts = groups["modelport-serving-alerts"]
    assert {a["alert"] for a in alerts} >= {"ModelportModelNotReady", "ModelportHighErrorRatio", "ModelportHighLatency"}
    for alert in alerts:
        assert re.fullmatch(r"\d+m", alert["for"]) and alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["summary"]
    tighter = prometheus_rules(error_ratio=0.01, p99_seconds=0.25)["groups"][1]["rules"]
    assert "> 0.01" in next(a for a in tighter if a["alert"] == "ModelportHighErrorRatio")["expr"]
    assert "> 0.25" in next(a for a in tighter if a["alert"] == "ModelportHighLatency")["expr"]


def test_the_command_writes_both_files(tmp_path: Path) -> None:
    assert monitoring.main(["--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "dashboard.json").read_text())["uid"] == "modelport-serving"
    assert json.loads((tmp_path / "rules.json").read_text())["groups"]


def test_the_recording_rules_compute_from_real_series(exported: dict[str, set[str]]) -> None:
    """Every metric the aliases read is one the server exports (a rule over a missing series records nothing)."""
    for rule in prometheus_rules()["groups"][0]["rules"]:
        for name, _ in _metric_uses(rule["expr"]):
            base = _base(name)
            assert (base.removesuffix("_total") in exported) or (base in exported), name
