"""Mock outputs and invokes for pulumi-gcp (and the Vertex dynamic resources): realistic resource ids, self links,
service account emails, run.app URLs, addresses and the project lookup components call."""

from __future__ import annotations

from typing import Any

from ..mocks import MockContext, fake_id, register_invoke, register_outputs

COMPUTE = "https://www.googleapis.com/compute/v1/"
# Compute kinds and their REST collection, with where they live: global, regional.
_COMPUTE_COLLECTIONS = {
    "Network": ("networks", "global"),
    "Subnetwork": ("subnetworks", "region"),
    "Router": ("routers", "region"),
    "Firewall": ("firewalls", "global"),
    "HealthCheck": ("healthChecks", "global"),
    "RegionHealthCheck": ("healthChecks", "region"),
    "BackendService": ("backendServices", "global"),
    "RegionBackendService": ("backendServices", "region"),
    "URLMap": ("urlMaps", "global"),
    "RegionUrlMap": ("urlMaps", "region"),
    "TargetHttpsProxy": ("targetHttpsProxies", "global"),
    "TargetHttpProxy": ("targetHttpProxies", "global"),
    "RegionTargetHttpsProxy": ("targetHttpsProxies", "region"),
    "RegionTargetHttpProxy": ("targetHttpProxies", "region"),
    "GlobalForwardingRule": ("forwardingRules", "global"),
    "ForwardingRule": ("forwardingRules", "region"),
    "GlobalAddress": ("addresses", "global"),
    "Address": ("addresses", "region"),
    "SSLPolicy": ("sslPolicies", "global"),
    "RegionSslPolicy": ("sslPolicies", "region"),
    "SecurityPolicy": ("securityPolicies", "global"),
    "ManagedSslCertificate": ("sslCertificates", "global"),
    "RegionNetworkEndpointGroup": ("networkEndpointGroups", "region"),
    "RegionInstanceTemplate": ("instanceTemplates", "region"),
    "InstanceTemplate": ("instanceTemplates", "global"),
    "RegionInstanceGroupManager": ("instanceGroupManagers", "region"),
    "RegionAutoscaler": ("autoscalers", "region"),
}
# Short location codes in run.app hostnames.
_RUN_REGION_CODE = {"europe-west4": "ez", "europe-west1": "ew", "us-central1": "uc", "us-east1": "ue", "us-east4": "uk"}


def project_number(project: str) -> str:
    """A deterministic 12-digit project number for ``project`` (never a real one)."""
    return str(100000000000 + int(fake_id("project-number", project, length=10), 16) % 899999999999)


def _ip(kind: str, *parts: str) -> str:
    a, b = (int(fake_id(kind, *parts, str(i), length=2), 16) for i in range(2))
    return f"10.10.{a % 250}.{b % 250 + 2}" if kind == "internal" else f"34.{a % 250 + 1}.{b % 250}.{(a + b) % 250 + 1}"


@register_outputs("gcp")
def gcp_outputs(
    type_: str, name: str, inputs: dict[str, Any], ctx: MockContext, provider: str | None
) -> dict[str, Any]:
    settings = ctx.providers.get(provider or "", {})
    project = inputs.get("project") or settings.get("project") or ctx.gcp_project
    region = inputs.get("region") or inputs.get("location") or ctx.region("gcp", provider)
    module, kind = type_.split(":")[1].split("/")[0], type_.rsplit(":", 1)[-1]
    physical = inputs.get("name") or f"{name}-{fake_id(type_, name, length=7)}"
    out: dict[str, Any] = {}
    if module == "compute" and kind in _COMPUTE_COLLECTIONS:
        collection, scope = _COMPUTE_COLLECTIONS[kind]
        where = "global" if scope == "global" else f"regions/{region}"
        resource_id = f"projects/{project}/{where}/{collection}/{physical}"
        out.update(id=resource_id, name=physical, selfLink=COMPUTE + resource_id)
        if kind == "RegionInstanceGroupManager":
            out["instanceGroup"] = f"{COMPUTE}projects/{project}/regions/{region}/instanceGroups/{physical}"
        elif kind == "GlobalAddress":
            out["address"] = _ip("external", name)
        elif kind == "ForwardingRule":
            out["ipAddress"] = _ip("internal", name)
        elif kind == "Subnetwork":
            out["gatewayAddress"] = str(inputs.get("ipCidrRange", "10.10.0.0/20")).split("/")[0][:-1] + "1"
        elif kind == "ManagedSslCertificate":
            out["certificateId"] = int(fake_id(name, length=8), 16)
        elif kind == "SecurityPolicy":
            out["fingerprint"] = fake_id("fp", name, length=12)
    elif module == "compute" and kind == "RouterNat":
        out["id"] = f"{project}/{region}/{inputs.get('router')}/{physical}"
    elif type_ == "gcp:serviceaccount/account:Account":
        email = f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"
        out.update(
            id=f"projects/{project}/serviceAccounts/{email}",
            name=f"projects/{project}/serviceAccounts/{email}",
            email=email,
            member=f"serviceAccount:{email}",
            uniqueId=str(int(fake_id("uid", name, length=14), 16)),
        )
    elif type_ == "gcp:kms/keyRing:KeyRing":
        out["id"] = f"projects/{project}/locations/{inputs.get('location', region)}/keyRings/{physical}"
    elif type_ == "gcp:kms/cryptoKey:CryptoKey":
        out["id"] = f"{inputs['keyRing']}/cryptoKeys/{physical}"
    elif type_ == "gcp:artifactregistry/repository:Repository":
        location = inputs.get("location", region)
        repo = inputs["repositoryId"]
        out.update(
            id=f"projects/{project}/locations/{location}/repositories/{repo}",
            name=repo,
            registryUri=f"{location}-docker.pkg.dev/{project}/{repo}",
        )
    elif type_ == "gcp:storage/bucket:Bucket":
        out.update(
            id=physical,
            name=physical,
            url=f"gs://{physical}",
            selfLink=f"https://www.googleapis.com/storage/v1/b/{physical}",
        )
    elif type_ == "gcp:cloudrunv2/service:Service":
        code = _RUN_REGION_CODE.get(region, "ez")
        number = project_number(project)
        out.update(
            id=f"projects/{project}/locations/{region}/services/{physical}",
            name=physical,
            uri=f"https://{physical}-{fake_id(name, length=10)}-{code}.a.run.app",
            urls=[f"https://{physical}-{number}.{region}.run.app"],
            uid=fake_id("uid", name, length=32),
            latestReadyRevision=f"projects/{project}/locations/{region}/services/{physical}/revisions/{physical}-00001-abc",
        )
    elif type_ == "gcp:container/cluster:Cluster":
        out.update(
            id=f"projects/{project}/locations/{inputs.get('location', region)}/clusters/{physical}",
            name=physical,
            endpoint=_ip("internal", "gke", name),
            masterAuth={
                "clusterCaCertificate": "TU9DSyBDQQ==",
                "clientCertificateConfig": {"issueClientCertificate": False},
            },
            selfLink=f"https://container.googleapis.com/v1/projects/{project}/locations/{region}/clusters/{physical}",
        )
    elif type_ == "gcp:vertex/aiEndpoint:AiEndpoint":
        endpoint_id = inputs.get("name") or str(int(fake_id("endpoint", name, length=15), 16))
        out.update(
            id=f"projects/{project}/locations/{inputs.get('location', region)}/endpoints/{endpoint_id}",
            name=endpoint_id,
            modelDeploymentMonitoringJob="",
        )
    elif type_ == "gcp:projects/iAMCustomRole:IAMCustomRole":
        role = f"projects/{project}/roles/{inputs['roleId']}"
        out.update(id=role, name=role, deleted=False)
    elif type_ == "gcp:monitoring/alertPolicy:AlertPolicy":
        policy = f"projects/{project}/alertPolicies/{int(fake_id('alert', name, length=15), 16)}"
        out.update(id=policy, name=policy)
    elif type_.endswith("IamMember") or type_.endswith("IAMMember"):
        out["etag"] = "BwY" + fake_id("etag", name, length=9)
    return out


@register_outputs("pulumi-python")
def dynamic_outputs(
    type_: str, name: str, inputs: dict[str, Any], ctx: MockContext, provider: str | None
) -> dict[str, Any]:
    """Dynamic resources: the Vertex model upload and deployment answer with the ids the real API returns."""
    kind = inputs.get("kind")
    project, region = inputs.get("project") or ctx.gcp_project, inputs.get("region") or ctx.region("gcp", provider)
    number = project_number(str(project))
    if kind == "vertex-model":
        model_id = str(int(fake_id("model", name, length=15), 16))
        return {
            "id": f"projects/{number}/locations/{region}/models/{model_id}",
            "model_name": f"projects/{number}/locations/{region}/models/{model_id}",
            "version_id": "1",
        }
    if kind == "vertex-deployment":
        return {
            "id": f"{inputs.get('endpoint')}#deployment",
            "deployed_model_ids": {
                track: str(int(fake_id("deployed", name, track, length=15), 16)) for track in inputs.get("tracks", {})
            },
        }
    return {}


@register_invoke("gcp:organizations/getProject:getProject")
def get_project(args: dict[str, Any], ctx: MockContext, provider: str | None) -> dict[str, Any]:
    project = args.get("projectId") or ctx.gcp_project
    return {
        "id": f"projects/{project}",
        "projectId": project,
        "number": project_number(project),
        "name": project,
        "labels": {},
        "autoCreateNetwork": False,
    }


@register_invoke("gcp:organizations/getClientConfig:getClientConfig")
def get_client_config(args: dict[str, Any], ctx: MockContext, provider: str | None) -> dict[str, Any]:
    settings = ctx.providers.get(provider or "", {})
    return {
        "id": "client-config",
        "project": settings.get("project") or ctx.gcp_project,
        "region": ctx.region("gcp", provider),
        "zone": "",
        "accessToken": "[mock-token]",
    }
