"""Vertex AI model upload and deployment as Pulumi dynamic resources (pulumi-gcp has no model or deployed-model
resource). `google-cloud-aiplatform` is imported lazily inside the provider methods, so importing modelport.gcp
stays light and the offline planner never needs credentials.

VertexModel: ``Model.upload`` of the serving image with its health and predict routes; every change replaces it
(an uploaded model is immutable). VertexDeployment: ``Endpoint.deploy`` of one model per track on dedicated
resources with an autoscaling metric, then the traffic split; an update changes traffic and replica counts in
place (``MutateDeployedModel``) and redeploys only the tracks whose model or machine changed.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic as dynamic

__all__ = ["VertexDeployment", "VertexDeploymentProvider", "VertexModel", "VertexModelProvider"]

MODEL_KIND = "vertex-model"
DEPLOYMENT_KIND = "vertex-deployment"
CPU_METRIC = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
ACCELERATOR_METRIC = "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle"
# Track settings MutateDeployedModel can change in place; any other change redeploys the track.
MUTABLE_TRACK_KEYS = ("min_replicas", "max_replicas", "cpu_target", "weight")


def load_aiplatform() -> Any:
    """The ``google.cloud.aiplatform`` module (tests replace this function with a fake)."""
    try:
        from google.cloud import aiplatform
    except ImportError as exc:  # pragma: no cover - depends on the installed extra
        raise ImportError("Vertex deployments need google-cloud-aiplatform: pip install 'modelport[gcp]'") from exc
    return aiplatform


def load_gapic() -> Any:
    """The ``google.cloud.aiplatform_v1`` module, for MutateDeployedModel (tests replace this with a fake)."""
    from google.cloud import aiplatform_v1

    return aiplatform_v1


# --- the model ------------------------------------------------------------------------------------------------


class VertexModelProvider(dynamic.ResourceProvider):
    """Uploads the serving image as a Vertex model; deletes it on destroy."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        aiplatform = load_aiplatform()
        model = aiplatform.Model.upload(
            project=props["project"],
            location=props["region"],
            display_name=props["display_name"],
            serving_container_image_uri=props["image"],
            serving_container_predict_route=props["predict_route"],
            serving_container_health_route=props["health_route"],
            serving_container_ports=[int(props["port"])],
            serving_container_environment_variables=dict(props.get("env") or {}),
            artifact_uri=props.get("artifact_uri") or None,
            encryption_spec_key_name=props.get("encryption_key") or None,
            labels=dict(props.get("labels") or {}),
            sync=True,
        )
        outputs = {**props, "model_name": model.resource_name, "version_id": str(model.version_id)}
        return dynamic.CreateResult(id_=model.resource_name, outs=outputs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = sorted(k for k in set(olds) | set(news) if k not in _OUTPUT_KEYS and olds.get(k) != news.get(k))
        # An uploaded model is immutable: any input change uploads a new one before the old one is deleted.
        return dynamic.DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        aiplatform = load_aiplatform()
        aiplatform.Model(model_name=_id, project=props["project"], location=props["region"]).delete(sync=True)


_OUTPUT_KEYS = {"model_name", "version_id", "deployed_model_ids", "service_attachments", "__provider"}


class VertexModel(dynamic.Resource):
    """A model uploaded to Vertex AI Model Registry: the serving image with its routes and port."""

    model_name: pulumi.Output[str]
    version_id: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            VertexModelProvider(),
            name,
            {"kind": MODEL_KIND, **props, "model_name": None, "version_id": None},
            opts,
        )


# --- the deployment ---------------------------------------------------------------------------------------------


def _machine_key(track: dict[str, Any]) -> tuple[Any, ...]:
    return (
        track["model_name"],
        track["machine_type"],
        track.get("accelerator_type"),
        track.get("accelerator_count"),
        track.get("service_account"),
    )


def _traffic(tracks: dict[str, dict[str, Any]], ids: dict[str, str]) -> dict[str, int]:
    return {ids[name]: int(t["weight"]) for name, t in tracks.items() if int(t["weight"]) > 0}


class VertexDeploymentProvider(dynamic.ResourceProvider):
    """Deploys one model per track to an endpoint and sets the traffic split; updates in place where it can."""

    @staticmethod
    def _endpoint(props: dict[str, Any]) -> Any:
        aiplatform = load_aiplatform()
        return aiplatform.Endpoint(endpoint_name=props["endpoint"], project=props["project"], location=props["region"])

    def _deploy(self, endpoint: Any, props: dict[str, Any], name: str, track: dict[str, Any], traffic: int) -> str:
        aiplatform = load_aiplatform()
        model = aiplatform.Model(model_name=track["model_name"], project=props["project"], location=props["region"])
        display = f"{props['display_name']}-{name}"
        kwargs: dict[str, Any] = {
            "model": model,
            "deployed_model_display_name": display,
            "traffic_percentage": traffic,
            "machine_type": track["machine_type"],
            "min_replica_count": int(track["min_replicas"]),
            "max_replica_count": int(track["max_replicas"]),
            "service_account": track.get("service_account"),
            "autoscaling_target_cpu_utilization": int(track["cpu_target"]),
            "enable_access_logging": True,
            "sync": True,
        }
        if track.get("accelerator_type"):
            kwargs.update(
                accelerator_type=track["accelerator_type"],
                accelerator_count=int(track["accelerator_count"]),
                autoscaling_target_accelerator_duty_cycle=int(track["cpu_target"]),
            )
        endpoint.deploy(**kwargs)
        found = [m for m in endpoint.list_models() if m.display_name == display and m.model == track["model_name"]]
        if not found:
            raise RuntimeError(f"Vertex reported no deployed model {display!r} on {props['endpoint']} after deploy")
        return str(found[-1].id)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        endpoint = self._endpoint(props)
        tracks: dict[str, dict[str, Any]] = props["tracks"]
        ids: dict[str, str] = {}
        # The heaviest track first takes all traffic; the others join at 0%, then the split is set at once.
        order = sorted(tracks, key=lambda n: -int(tracks[n]["weight"]))
        for index, name in enumerate(order):
            ids[name] = self._deploy(endpoint, props, name, tracks[name], 100 if index == 0 else 0)
        if len(tracks) > 1:
            endpoint.update(traffic_split=_traffic(tracks, ids))
        outputs = {**props, "deployed_model_ids": ids}
        return dynamic.CreateResult(id_=f"{props['endpoint']}#{props['display_name']}", outs=outputs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        replaces = [k for k in ("project", "region", "endpoint", "display_name") if olds.get(k) != news.get(k)]
        changed = bool(replaces) or olds.get("tracks") != news.get("tracks")
        return dynamic.DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        endpoint = self._endpoint(news)
        old_tracks: dict[str, dict[str, Any]] = olds["tracks"]
        new_tracks: dict[str, dict[str, Any]] = news["tracks"]
        old_ids: dict[str, str] = dict(olds.get("deployed_model_ids") or {})
        ids: dict[str, str] = {}
        retire: list[str] = []
        for name, track in new_tracks.items():
            before = old_tracks.get(name)
            if before is not None and name in old_ids and _machine_key(before) == _machine_key(track):
                ids[name] = old_ids[name]
                if any(before.get(k) != track.get(k) for k in ("min_replicas", "max_replicas", "cpu_target")):
                    self._mutate(news, old_ids[name], track)
            else:
                ids[name] = self._deploy(endpoint, news, name, track, 0)
                if name in old_ids:
                    retire.append(old_ids[name])
        retire += [old_ids[n] for n in old_tracks if n not in new_tracks and n in old_ids]
        endpoint.update(traffic_split=_traffic(new_tracks, ids))
        for deployed_model_id in retire:
            endpoint.undeploy(deployed_model_id=deployed_model_id, sync=True)
        return dynamic.UpdateResult(outs={**news, "deployed_model_ids": ids})

    def _mutate(self, props: dict[str, Any], deployed_model_id: str, track: dict[str, Any]) -> None:
        """Replica bounds and the autoscaling target, changed in place (MutateDeployedModel)."""
        gapic = load_gapic()
        client = gapic.EndpointServiceClient(
            client_options={"api_endpoint": f"{props['region']}-aiplatform.googleapis.com"}
        )
        metric = ACCELERATOR_METRIC if track.get("accelerator_type") else CPU_METRIC
        machine: dict[str, Any] = {"machine_type": track["machine_type"]}
        if track.get("accelerator_type"):
            machine.update(
                accelerator_type=track["accelerator_type"], accelerator_count=int(track["accelerator_count"])
            )
        deployed = gapic.DeployedModel(
            id=deployed_model_id,
            dedicated_resources=gapic.DedicatedResources(
                machine_spec=gapic.MachineSpec(**machine),
                min_replica_count=int(track["min_replicas"]),
                max_replica_count=int(track["max_replicas"]),
                autoscaling_metric_specs=[
                    gapic.AutoscalingMetricSpec(metric_name=metric, target=int(track["cpu_target"]))
                ],
            ),
        )
        operation = client.mutate_deployed_model(
            endpoint=props["endpoint"],
            deployed_model=deployed,
            update_mask={
                "paths": [
                    "dedicated_resources.min_replica_count",
                    "dedicated_resources.max_replica_count",
                    "dedicated_resources.autoscaling_metric_specs",
                ]
            },
        )
        operation.result()

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        endpoint = self._endpoint(props)
        tracks: dict[str, dict[str, Any]] = props["tracks"]
        ids: dict[str, str] = dict(props.get("deployed_model_ids") or {})
        order = sorted(ids, key=lambda n: int(tracks.get(n, {}).get("weight", 0)))
        last = order[-1] if order else None
        for name in order[:-1]:
            # Each undeploy leaves all traffic on the track that stays until the end.
            endpoint.undeploy(deployed_model_id=ids[name], traffic_split={ids[last]: 100}, sync=True)
        if last is not None:
            endpoint.undeploy(deployed_model_id=ids[last], sync=True)


class VertexDeployment(dynamic.Resource):
    """The tracks of one endpoint: deployed models on dedicated resources and their traffic split."""

    deployed_model_ids: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            VertexDeploymentProvider(), name, {"kind": DEPLOYMENT_KIND, **props, "deployed_model_ids": None}, opts
        )
