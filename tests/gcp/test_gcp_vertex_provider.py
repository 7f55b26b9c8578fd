"""The Vertex dynamic providers against a fake google-cloud-aiplatform: which calls create, update, delete and
diff make, and with what arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from modelport.gcp import vertex_provider
from modelport.gcp.vertex_provider import CPU_METRIC, VertexDeploymentProvider, VertexModelProvider

ENDPOINT = "projects/acme-ml/locations/europe-west4/endpoints/1234567890"
MODEL_A = "projects/123/locations/europe-west4/models/111"
MODEL_B = "projects/123/locations/europe-west4/models/222"


@dataclass
class FakeAiPlatform:
    """Records every call the providers make, and plays the Endpoint's deployed-model list."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    deployed: list[SimpleNamespace] = field(default_factory=list)
    next_id: int = 900

    # --- aiplatform module surface ---

    @property
    def Model(self) -> Any:  # noqa: N802 - mirrors aiplatform.Model
        fake = self

        class Model:
            def __init__(self, model_name: str, project: str, location: str) -> None:
                self.resource_name = model_name
                fake.calls.append(("Model", {"model_name": model_name, "project": project, "location": location}))

            @staticmethod
            def upload(**kwargs: Any) -> Any:
                fake.calls.append(("Model.upload", kwargs))
                return SimpleNamespace(resource_name=MODEL_A, version_id=1)

            def delete(self, sync: bool) -> None:
                fake.calls.append(("Model.delete", {"model_name": self.resource_name, "sync": sync}))

        return Model

    @property
    def Endpoint(self) -> Any:  # noqa: N802 - mirrors aiplatform.Endpoint
        fake = self

        class Endpoint:
            def __init__(self, endpoint_name: str, project: str, location: str) -> None:
                fake.calls.append(
                    ("Endpoint", {"endpoint_name": endpoint_name, "project": project, "location": location})
                )

            def deploy(self, **kwargs: Any) -> None:
                fake.calls.append(("Endpoint.deploy", {**kwargs, "model": kwargs["model"].resource_name}))
                fake.next_id += 1
                fake.deployed.append(
                    SimpleNamespace(
                        id=str(fake.next_id),
                        display_name=kwargs["deployed_model_display_name"],
                        model=kwargs["model"].resource_name,
                    )
                )

            def list_models(self) -> list[SimpleNamespace]:
                return list(fake.deployed)

            def update(self, **kwargs: Any) -> None:
                fake.calls.append(("Endpoint.update", kwargs))

            def undeploy(self, **kwargs: Any) -> None:
                fake.calls.append(("Endpoint.undeploy", kwargs))
                fake.deployed = [m for m in fake.deployed if m.id != kwargs["deployed_model_id"]]

        return Endpoint

    # --- aiplatform_v1 (gapic) surface ---

    def EndpointServiceClient(self, client_options: dict[str, str]) -> Any:  # noqa: N802
        fake = self

        class Operation:
            def result(self) -> None:
                fake.calls.append(("operation.result", {}))

        class Client:
            def mutate_deployed_model(self, **kwargs: Any) -> Operation:
                fake.calls.append(("mutate_deployed_model", {**kwargs, "client_options": client_options}))
                return Operation()

        return Client()

    @staticmethod
    def DeployedModel(**kwargs: Any) -> dict[str, Any]:  # noqa: N802
        return kwargs

    @staticmethod
    def DedicatedResources(**kwargs: Any) -> dict[str, Any]:  # noqa: N802
        return kwargs

    @staticmethod
    def MachineSpec(**kwargs: Any) -> dict[str, Any]:  # noqa: N802
        return kwargs

    @staticmethod
    def AutoscalingMetricSpec(**kwargs: Any) -> dict[str, Any]:  # noqa: N802
        return kwargs

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for call, kwargs in self.calls if call == name]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeAiPlatform:
    client = FakeAiPlatform()
    monkeypatch.setattr(vertex_provider, "load_aiplatform", lambda: client)
    monkeypatch.setattr(vertex_provider, "load_gapic", lambda: client)
    return client


MODEL_PROPS = {
    "kind": "vertex-model",
    "project": "acme-ml",
    "region": "europe-west4",
    "display_name": "churn-stable",
    "image": "europe-west4-docker.pkg.dev/acme-ml/serving/churn@sha256:" + "4f" * 32,
    "predict_route": "/v1/models/churn:predict",
    "health_route": "/v2/health/ready",
    "port": 8080,
    "env": {"MODEL_NAME": "churn"},
    "artifact_uri": None,
    "encryption_key": "projects/acme-ml/locations/europe-west4/keyRings/k/cryptoKeys/model",
    "labels": {"managed-by": "modelport"},
}


def track(model: str = MODEL_A, weight: int = 100, low: int = 3, high: int = 12, **extra: Any) -> dict[str, Any]:
    return {
        "model_name": model,
        "weight": weight,
        "machine_type": "n2-standard-2",
        "accelerator_type": None,
        "accelerator_count": 0,
        "min_replicas": low,
        "max_replicas": high,
        "cpu_target": 60,
        "service_account": "churn@acme-ml.iam.gserviceaccount.com",
        **extra,
    }


def deployment(**tracks: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "vertex-deployment",
        "project": "acme-ml",
        "region": "europe-west4",
        "endpoint": ENDPOINT,
        "display_name": "churn-vx",
        "tracks": tracks,
    }


def test_model_create_uploads_the_image_with_routes_port_and_key(fake):
    result = VertexModelProvider().create(dict(MODEL_PROPS))
    (upload,) = fake.named("Model.upload")
    assert upload["serving_container_image_uri"] == MODEL_PROPS["image"]
    assert upload["serving_container_predict_route"] == "/v1/models/churn:predict"
    assert upload["serving_container_health_route"] == "/v2/health/ready"
    assert upload["serving_container_ports"] == [8080]
    assert upload["encryption_spec_key_name"] == MODEL_PROPS["encryption_key"]
    assert (upload["project"], upload["location"], upload["sync"]) == ("acme-ml", "europe-west4", True)
    assert result.id == MODEL_A
    assert result.outs["model_name"] == MODEL_A and result.outs["version_id"] == "1"


def test_model_diff_replaces_on_any_input_change_and_ignores_outputs(fake):
    olds = {**MODEL_PROPS, "model_name": MODEL_A, "version_id": "1"}
    assert VertexModelProvider().diff(MODEL_A, olds, dict(MODEL_PROPS)).changes is False
    changed = VertexModelProvider().diff(MODEL_A, olds, {**MODEL_PROPS, "image": MODEL_PROPS["image"][:-2] + "00"})
    assert changed.changes is True and changed.replaces == ["image"]
    assert changed.delete_before_replace is False
    assert fake.calls == []


def test_model_delete_deletes_exactly_that_model(fake):
    VertexModelProvider().delete(MODEL_A, dict(MODEL_PROPS))
    assert fake.named("Model.delete") == [{"model_name": MODEL_A, "sync": True}]


def test_deployment_create_deploys_the_heaviest_track_first_then_sets_the_split(fake):
    props = deployment(stable=track(weight=90), canary=track(MODEL_B, weight=10, low=2))
    result = VertexDeploymentProvider().create(props)
    deploys = fake.named("Endpoint.deploy")
    assert [(d["model"], d["traffic_percentage"]) for d in deploys] == [(MODEL_A, 100), (MODEL_B, 0)]
    first = deploys[0]
    assert first["machine_type"] == "n2-standard-2"
    assert (first["min_replica_count"], first["max_replica_count"]) == (3, 12)
    assert first["autoscaling_target_cpu_utilization"] == 60
    assert first["service_account"] == "churn@acme-ml.iam.gserviceaccount.com"
    assert first["deployed_model_display_name"] == "churn-vx-stable"
    assert deploys[1]["min_replica_count"] == 2
    ids = result.outs["deployed_model_ids"]
    assert fake.named("Endpoint.update") == [{"traffic_split": {ids["stable"]: 90, ids["canary"]: 10}}]


def test_deployment_diff_updates_tracks_in_place_and_replaces_on_a_new_endpoint(fake):
    olds = {**deployment(stable=track()), "deployed_model_ids": {"stable": "901"}}
    provider = VertexDeploymentProvider()
    assert provider.diff("x", olds, deployment(stable=track())).changes is False
    in_place = provider.diff("x", olds, deployment(stable=track(low=4)))
    assert in_place.changes is True and in_place.replaces == []
    moved = provider.diff("x", olds, {**deployment(stable=track()), "endpoint": ENDPOINT[:-1] + "1"})
    assert moved.replaces == ["endpoint"]


def test_update_of_replicas_and_traffic_mutates_in_place_without_redeploying(fake):
    olds = {
        **deployment(stable=track(weight=90), canary=track(MODEL_B, weight=10)),
        "deployed_model_ids": {"stable": "901", "canary": "902"},
    }
    news = deployment(stable=track(weight=50, low=4, high=20), canary=track(MODEL_B, weight=50))
    result = VertexDeploymentProvider().update("x", olds, news)
    assert fake.named("Endpoint.deploy") == []
    assert fake.named("Endpoint.undeploy") == []
    (mutation,) = fake.named("mutate_deployed_model")
    assert mutation["endpoint"] == ENDPOINT
    resources = mutation["deployed_model"]["dedicated_resources"]
    assert mutation["deployed_model"]["id"] == "901"
    assert (resources["min_replica_count"], resources["max_replica_count"]) == (4, 20)
    assert resources["autoscaling_metric_specs"] == [{"metric_name": CPU_METRIC, "target": 60}]
    assert mutation["client_options"] == {"api_endpoint": "europe-west4-aiplatform.googleapis.com"}
    assert set(mutation["update_mask"]["paths"]) == {
        "dedicated_resources.min_replica_count",
        "dedicated_resources.max_replica_count",
        "dedicated_resources.autoscaling_metric_specs",
    }
    assert fake.named("Endpoint.update") == [{"traffic_split": {"901": 50, "902": 50}}]
    assert result.outs["deployed_model_ids"] == {"stable": "901", "canary": "902"}


def test_update_with_a_new_model_deploys_it_shifts_traffic_then_undeploys_the_old_one(fake):
    olds = {**deployment(stable=track()), "deployed_model_ids": {"stable": "801"}}
    result = VertexDeploymentProvider().update("x", olds, deployment(stable=track(MODEL_B)))
    (deploy,) = fake.named("Endpoint.deploy")
    assert (deploy["model"], deploy["traffic_percentage"]) == (MODEL_B, 0)
    new_id = result.outs["deployed_model_ids"]["stable"]
    assert new_id != "801"
    order = [call for call, _ in fake.calls if call.startswith("Endpoint.") and call != "Endpoint"]
    assert order == ["Endpoint.deploy", "Endpoint.update", "Endpoint.undeploy"]
    assert fake.named("Endpoint.update") == [{"traffic_split": {new_id: 100}}]
    assert fake.named("Endpoint.undeploy") == [{"deployed_model_id": "801", "sync": True}]


def test_update_dropping_a_track_undeploys_it_after_the_split_moves(fake):
    olds = {
        **deployment(stable=track(weight=90), canary=track(MODEL_B, weight=10)),
        "deployed_model_ids": {"stable": "901", "canary": "902"},
    }
    VertexDeploymentProvider().update("x", olds, deployment(stable=track(weight=100)))
    assert fake.named("Endpoint.update") == [{"traffic_split": {"901": 100}}]
    assert fake.named("Endpoint.undeploy") == [{"deployed_model_id": "902", "sync": True}]


def test_delete_undeploys_the_light_tracks_onto_the_heaviest_then_the_heaviest(fake):
    props = {
        **deployment(stable=track(weight=90), canary=track(MODEL_B, weight=10)),
        "deployed_model_ids": {"stable": "901", "canary": "902"},
    }
    VertexDeploymentProvider().delete("x", props)
    assert fake.named("Endpoint.undeploy") == [
        {"deployed_model_id": "902", "traffic_split": {"901": 100}, "sync": True},
        {"deployed_model_id": "901", "sync": True},
    ]


def test_importing_the_gcp_package_does_not_import_aiplatform():
    import subprocess
    import sys

    code = "import sys, modelport.gcp, modelport.gcp.ml_platform; print('google.cloud.aiplatform' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
