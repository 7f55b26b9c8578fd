"""Every resource that takes a customer-managed key gets the foundation's key, and every regional resource sits in
the target's region, for each pattern in dev and prod."""

from __future__ import annotations

import pytest
from gcp_fixtures import DEV, PROD, REGION, REGIONAL_CERT, args_of, key_id, register
from modelport.gcp.container import CloudRunService, CloudRunServiceArgs
from modelport.gcp.kubernetes import GkeService, GkeServiceArgs
from modelport.gcp.ml_platform import VertexEndpoint, VertexEndpointArgs
from modelport.gcp.serverless import CloudRunFunction, CloudRunFunctionArgs
from modelport.gcp.vm import MigService, MigServiceArgs

PATTERNS = {
    "vm": (MigService, MigServiceArgs, {"internal_certificate": REGIONAL_CERT}),
    "container": (CloudRunService, CloudRunServiceArgs, {}),
    "kubernetes": (GkeService, GkeServiceArgs, {"mode": "standard"}),
    "serverless": (CloudRunFunction, CloudRunFunctionArgs, {}),
    "ml_platform": (VertexEndpoint, VertexEndpointArgs, {}),
}


def keys_of(resource) -> list[object]:
    """The key names a resource carries, wherever its type keeps them."""
    inputs = resource.inputs
    kind = resource.type
    if kind == "gcp:artifactregistry/repository:Repository":
        return [inputs.get("kmsKeyName")]
    if kind == "gcp:storage/bucket:Bucket":
        return [inputs.get("encryption", {}).get("defaultKmsKeyName")]
    if kind == "gcp:cloudrunv2/service:Service":
        return [inputs["template"].get("encryptionKey")]
    if kind == "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate":
        return [d.get("diskEncryptionKey", {}).get("kmsKeySelfLink") for d in inputs["disks"]]
    if kind == "gcp:container/cluster:Cluster":
        return [inputs["databaseEncryption"].get("keyName"), inputs["nodeConfig"].get("bootDiskKmsKey")]
    if kind == "gcp:container/nodePool:NodePool":
        return [inputs["nodeConfig"].get("bootDiskKmsKey")]
    if kind == "gcp:vertex/aiEndpoint:AiEndpoint":
        return [inputs.get("encryptionSpec", {}).get("kmsKeyName")]
    if kind == "pulumi-python:dynamic:Resource" and inputs.get("kind") == "vertex-model":
        return [inputs.get("encryption_key")]
    return []


@pytest.mark.parametrize("profile", [DEV, PROD], ids=["dev", "prod"])
@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_every_encryptable_resource_uses_the_key_and_the_region(pulumi_mocks, pattern, profile):
    component, args_type, options = PATTERNS[pattern]
    args = args_of(args_type, profile=profile, **options)
    register(lambda: component(f"churn-{pattern.replace('_', '-')}", args))
    key = key_id(pulumi_mocks)
    encrypted = [(r.type, keys_of(r)) for r in pulumi_mocks.resources if keys_of(r)]
    assert len(encrypted) >= 3, encrypted
    for kind, keys in encrypted:
        assert keys and all(k == key for k in keys), (kind, keys)
    for resource in pulumi_mocks.resources:
        for field in ("region", "location"):
            value = resource.inputs.get(field)
            if isinstance(value, str) and resource.type.startswith("gcp:"):
                assert value.lower() == REGION, (resource.type, field, value)
