"""EksService (kubernetes): private encrypted cluster, access entries, node groups over the zones with hardened
launch templates, add-ons, Pod Identity, and the ModelWorkload through a provider built from the cluster."""

from __future__ import annotations

import json

from aws_fixtures import DEV, PROD, make_service, register, subnet_zones
from modelport.aws.kubernetes import CONTROL_PLANE_LOGS, EksService, EksServiceArgs

CLUSTER = "aws:eks/cluster:Cluster"
NODES = "aws:eks/nodeGroup:NodeGroup"


def deploy(mocks, profile=PROD, service=None, **kwargs):
    service = service or make_service()
    kwargs.setdefault("workload", {"namespace": "churn"})
    register(lambda: EksService("churn-eks", EksServiceArgs(service=service, profile=profile, **kwargs)))
    return mocks


def test_cluster_is_private_encrypted_logged_and_uses_access_entries(pulumi_mocks):
    cluster = deploy(pulumi_mocks).one(CLUSTER).inputs
    assert cluster["vpcConfig"]["endpointPrivateAccess"] is True
    assert cluster["vpcConfig"]["endpointPublicAccess"] is False
    key = pulumi_mocks.one("aws:kms/key:Key").outputs["arn"]
    assert cluster["encryptionConfig"] == {"provider": {"keyArn": key}, "resources": ["secrets"]}
    assert (
        cluster["enabledClusterLogTypes"]
        == CONTROL_PLANE_LOGS
        == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    )
    assert cluster["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    assert cluster["deletionProtection"] is True
    group = pulumi_mocks.one("aws:cloudwatch/logGroup:LogGroup", "churn-eks-control-plane-logs").inputs
    assert group["name"] == f"/aws/eks/{cluster['name']}/cluster"
    assert group["kmsKeyId"] == key


def test_cluster_role_can_use_the_key_for_secrets(pulumi_mocks):
    deploy(pulumi_mocks)
    doc = json.loads(
        pulumi_mocks.one("aws:iam/rolePolicy:RolePolicy", "churn-eks-cluster-role-policy").inputs["policy"]
    )
    statement = doc["Statement"][0]
    assert statement["Resource"] == [pulumi_mocks.one("aws:kms/key:Key").outputs["arn"]]
    assert set(statement["Action"]) == {"kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"}


def test_public_endpoint_only_with_allow_listed_cidrs(pulumi_mocks):
    cluster = deploy(pulumi_mocks, endpoint_public_access_cidrs=["198.51.100.0/24"]).one(CLUSTER).inputs
    assert cluster["vpcConfig"]["endpointPublicAccess"] is True
    assert cluster["vpcConfig"]["publicAccessCidrs"] == ["198.51.100.0/24"]


def test_admin_access_is_an_access_entry_for_the_deployer(pulumi_mocks):
    deploy(pulumi_mocks)
    entry = pulumi_mocks.one("aws:eks/accessEntry:AccessEntry").inputs
    assert entry["principalArn"] == "arn:aws:iam::123456789012:role/modelport-plan"
    association = pulumi_mocks.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation").inputs
    assert association["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    assert association["accessScope"] == {"type": "cluster"}


def test_prod_node_group_spans_three_zones_with_min_at_least_the_zones(pulumi_mocks):
    nodes = deploy(pulumi_mocks, PROD).one(NODES).inputs
    assert subnet_zones(pulumi_mocks, nodes["subnetIds"]) == {"us-east-1a", "us-east-1b", "us-east-1c"}
    assert nodes["scalingConfig"]["minSize"] >= 3
    assert "remoteAccess" not in nodes
    assert nodes["amiType"] == "AL2023_x86_64_STANDARD"
    # 2 vCPU pods need a node with room for the kubelet and DaemonSets.
    assert nodes["instanceTypes"] == ["m7i.xlarge"]


def test_dev_node_group_spans_two_zones(pulumi_mocks):
    nodes = deploy(pulumi_mocks, DEV).one(NODES).inputs
    assert len(subnet_zones(pulumi_mocks, nodes["subnetIds"])) == 2
    assert nodes["scalingConfig"]["minSize"] == 2


def test_node_launch_template_requires_imdsv2_hop_one_and_encrypts_the_root_volume(pulumi_mocks):
    deploy(pulumi_mocks)
    lt = pulumi_mocks.one("aws:ec2/launchTemplate:LaunchTemplate")
    nodes = pulumi_mocks.one(NODES).inputs
    assert nodes["launchTemplate"]["id"] == lt.id
    assert lt.inputs["metadataOptions"]["httpTokens"] == "required"
    assert lt.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    ebs = lt.inputs["blockDeviceMappings"][0]["ebs"]
    assert ebs["encrypted"] == "true"
    assert ebs["kmsKeyId"] == pulumi_mocks.one("aws:kms/key:Key").outputs["arn"]
    assert "keyName" not in lt.inputs and "userData" not in lt.inputs


def test_addons_include_network_policy_and_pod_identity(pulumi_mocks):
    deploy(pulumi_mocks)
    addons = {r.inputs["addonName"]: r.inputs for r in pulumi_mocks.by_type("aws:eks/addon:Addon")}
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"}
    assert json.loads(addons["vpc-cni"]["configurationValues"]) == {"enableNetworkPolicy": "true"}
    cni_role = pulumi_mocks.one("aws:iam/role:Role", "churn-eks-cni-role").outputs["arn"]
    assert addons["vpc-cni"]["podIdentityAssociations"] == [{"roleArn": cni_role, "serviceAccount": "aws-node"}]


def test_workload_runs_with_a_pod_identity_role_through_the_cluster_provider(pulumi_mocks):
    deploy(pulumi_mocks)
    cluster = pulumi_mocks.one(CLUSTER).inputs["name"]
    association = pulumi_mocks.one("aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs
    role = pulumi_mocks.one("aws:iam/role:Role", "churn-eks-workload-role")
    assert association == {
        "clusterName": cluster,
        "namespace": "churn",
        "serviceAccount": "churn",
        "roleArn": role.outputs["arn"],
        "tags": {"managed-by": "modelport", "team": "ml-platform"},
    }
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert trust["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == "churn"
    provider = pulumi_mocks.one("pulumi:providers:kubernetes")
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    assert kubeconfig["users"][0]["user"]["exec"]["args"][:4] == ["eks", "get-token", "--cluster-name", cluster]
    deployment = pulumi_mocks.one("kubernetes:apps/v1:Deployment")
    assert deployment.provider is not None and deployment.provider.split("::")[-2] == "churn-eks-k8s"
    policies = [r.inputs for r in pulumi_mocks.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")]
    egress = [p for p in policies if p["metadata"]["name"] == "churn-allow-egress"][0]["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}], "ports": [{"port": 80, "protocol": "TCP"}]} in egress
    component = pulumi_mocks.one("modelport:aws:EksService").outputs
    assert component["identity"] == role.outputs["arn"]
    assert component["endpoint"] == "http://churn.churn.svc.cluster.local:8080"


def test_gpu_nodes_use_bottlerocket_nvidia_with_encrypted_data_volume(pulumi_mocks):
    service = make_service(resources={"cpu": 4, "memory_mib": 16384, "accelerator": {"type": "nvidia-a10g"}})
    deploy(pulumi_mocks, service=service)
    nodes = pulumi_mocks.one(NODES).inputs
    assert nodes["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"
    assert nodes["instanceTypes"] == ["g5.2xlarge"]
    devices = {
        m["deviceName"]: m["ebs"]
        for m in pulumi_mocks.one("aws:ec2/launchTemplate:LaunchTemplate").inputs["blockDeviceMappings"]
    }
    assert set(devices) == {"/dev/xvda", "/dev/xvdb"}
    assert all(d["encrypted"] == "true" for d in devices.values())


def test_existing_cluster_gets_only_the_identity_and_the_workload(pulumi_mocks):
    deploy(pulumi_mocks, cluster_name="shared-prod")
    assert pulumi_mocks.by_type(CLUSTER) == [] and pulumi_mocks.by_type(NODES) == []
    assert pulumi_mocks.by_type("aws:eks/addon:Addon") == []
    assert pulumi_mocks.by_type("aws:ec2/vpc:Vpc") == []
    assert pulumi_mocks.by_type("aws:cloudwatch/logGroup:LogGroup") == []
    assert (
        pulumi_mocks.one("aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs["clusterName"] == "shared-prod"
    )
    assert pulumi_mocks.one("modelport:kubernetes:ModelWorkload")


def test_canary_runs_two_weighted_tracks_in_the_workload(pulumi_mocks):
    variants = [
        {"name": "stable", "weight": 90},
        {"name": "canary", "weight": 10, "image": "registry.example.com/ml/churn@sha256:" + "5a" * 32},
    ]
    deploy(pulumi_mocks, service=make_service(variants=variants))
    deployments = {
        r.inputs["metadata"]["name"]: r.inputs for r in pulumi_mocks.by_type("kubernetes:apps/v1:Deployment")
    }
    assert set(deployments) == {"churn-stable", "churn-canary"}
    canary = deployments["churn-canary"]["spec"]["template"]["spec"]["containers"][0]
    assert canary["image"].endswith("5a" * 32)
