"""GkeService (kubernetes): a regional private cluster with CMEK Secrets, Workload Identity and a dedicated node
identity, then the ModelWorkload acting as the workload's GCP service account, in dev and prod."""

from __future__ import annotations

import pytest
from gcp_fixtures import DEV, PROD, PROJECT, REGION, ZONES, args_of, email_of, key_id, register
from modelport.gcp.kubernetes import GkeService, GkeServiceArgs

CLUSTER = "gcp:container/cluster:Cluster"


def deploy(mocks, profile=PROD, **options):
    options.setdefault("workload", {"namespace": "churn"})
    args = args_of(GkeServiceArgs, None, profile, **options)
    register(lambda: GkeService("churn-gke", args))
    return mocks


@pytest.mark.parametrize("profile", [DEV, PROD], ids=["dev", "prod"])
def test_autopilot_cluster_is_regional_private_and_encrypts_secrets_with_the_cmek(pulumi_mocks, profile):
    cluster = deploy(pulumi_mocks, profile).one(CLUSTER).inputs
    assert cluster["location"] == REGION
    assert cluster["enableAutopilot"] is True
    assert cluster["privateClusterConfig"]["enablePrivateNodes"] is True
    assert cluster["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert cluster["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": key_id(pulumi_mocks)}
    assert cluster["releaseChannel"] == {"channel": "REGULAR"}
    assert cluster["deletionProtection"] is profile.deletion_protection
    assert cluster["binaryAuthorization"] == {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
    defaults = cluster["clusterAutoscaling"]["autoProvisioningDefaults"]
    nodes = email_of(pulumi_mocks, "churn-gke-nodes")
    assert defaults["serviceAccount"] == nodes
    assert defaults["bootDiskKmsKey"] == key_id(pulumi_mocks)
    assert nodes != email_of(pulumi_mocks, "churn-gke-foundation-identity")
    agents = sorted(
        g.inputs["member"].split("@")[1].split(".")[0]
        for g in pulumi_mocks.by_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    )
    assert agents == ["compute-system", "container-engine-robot", "gcp-sa-artifactregistry", "gs-project-accounts"]


def test_the_kubernetes_service_account_acts_as_the_workload_identity(pulumi_mocks):
    deploy(pulumi_mocks)
    email = email_of(pulumi_mocks, "churn-gke-foundation-identity")
    binding = pulumi_mocks.one("gcp:serviceaccount/iAMMember:IAMMember").inputs
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["member"] == f"serviceAccount:{PROJECT}.svc.id.goog[churn/churn]"
    assert binding["serviceAccountId"] == f"projects/{PROJECT}/serviceAccounts/{email}"
    account = pulumi_mocks.one("kubernetes:core/v1:ServiceAccount").inputs
    assert account["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": email}
    assert account["metadata"]["namespace"] == "churn"
    # the pods reach the GKE metadata server (Dataplane V2: 169.254.169.252:988) for their tokens, never the node's
    egress = [
        rule
        for policy in pulumi_mocks.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        for rule in policy.inputs["spec"].get("egress", [])
    ]
    cidrs = {to.get("ipBlock", {}).get("cidr") for rule in egress for to in rule.get("to", [])}
    assert "169.254.169.252/32" in cidrs and "169.254.169.254/32" not in cidrs


def test_nodes_read_the_registry_and_hold_only_the_default_node_role(pulumi_mocks):
    deploy(pulumi_mocks)
    nodes = "serviceAccount:" + email_of(pulumi_mocks, "churn-gke-nodes")
    roles = [(m.inputs["role"], m.inputs["member"]) for m in pulumi_mocks.by_type("gcp:projects/iAMMember:IAMMember")]
    assert roles == [("roles/container.defaultNodeServiceAccount", nodes)]
    readers = [
        r.inputs["member"]
        for r in pulumi_mocks.by_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
        if r.name.startswith("churn-gke-nodes")
    ]
    assert readers == [nodes, nodes]  # the created repository and the image's own


def test_standard_mode_adds_a_hardened_cmek_node_pool_over_three_zones(pulumi_mocks):
    deploy(pulumi_mocks, mode="standard")
    cluster = pulumi_mocks.one(CLUSTER).inputs
    assert cluster.get("enableAutopilot") is None
    assert cluster["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}
    assert cluster["removeDefaultNodePool"] is True
    pool = pulumi_mocks.one("gcp:container/nodePool:NodePool").inputs
    assert pool["nodeLocations"] == list(ZONES)
    config = pool["nodeConfig"]
    assert config["bootDiskKmsKey"] == key_id(pulumi_mocks)
    assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert config["shieldedInstanceConfig"]["enableSecureBoot"] is True
    assert config["serviceAccount"] == email_of(pulumi_mocks, "churn-gke-nodes")
    assert pool["autoscaling"] == {"totalMinNodeCount": 3, "totalMaxNodeCount": 13, "locationPolicy": "BALANCED"}
    assert pool["upgradeSettings"]["maxUnavailable"] == 0


def test_public_control_plane_is_limited_to_authorised_networks(pulumi_mocks):
    deploy(pulumi_mocks, private_endpoint=False, authorized_networks=["198.51.100.0/24"])
    cluster = pulumi_mocks.one(CLUSTER).inputs
    assert cluster["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert cluster["masterAuthorizedNetworksConfig"]["cidrBlocks"] == [
        {"cidrBlock": "198.51.100.0/24", "displayName": "operators-0"}
    ]
