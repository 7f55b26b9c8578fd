"""GCP rules: Cloud Run v2 invoker and ingress, GKE database encryption, shielded VMs, CMEK, IAM, Armor, logging."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from .base import ADVISORY, MANDATORY, collect, environment, resource_rule
from .props import (
    SECRET_NAME,
    UNKNOWN,
    get,
    has_digest,
    is_false,
    is_set,
    is_true,
    items,
    number,
    peek,
    secret_findings,
    strings,
    unpinned_boot_images,
)

CLOUD_RUN = "gcp:cloudrunv2/service:Service"
CLOUD_RUN_IAM = (
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
    "gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding",
)
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
INSTANCE_TEMPLATES = (
    "gcp:compute/instanceTemplate:InstanceTemplate",
    "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate",
)
INSTANCE = "gcp:compute/instance:Instance"
VM_TYPES = (*INSTANCE_TEMPLATES, INSTANCE)
REGION_MIG = "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager"
ZONAL_MIG = "gcp:compute/instanceGroupManager:InstanceGroupManager"
AUTOSCALERS = ("gcp:compute/regionAutoscaler:RegionAutoscaler", "gcp:compute/autoscaler:Autoscaler")
SSL_POLICY = "gcp:compute/sSLPolicy:SSLPolicy"
REGION_SSL_POLICY = "gcp:compute/regionSslPolicy:RegionSslPolicy"
FORWARDING_RULES = (
    "gcp:compute/forwardingRule:ForwardingRule",
    "gcp:compute/globalForwardingRule:GlobalForwardingRule",
)
# modelport's Vertex model upload and deployment: Python dynamic resources, told apart by their ``kind``.
DYNAMIC = "pulumi-python:dynamic:Resource"
HTTPS_PROXIES = (
    "gcp:compute/targetHttpsProxy:TargetHttpsProxy",
    "gcp:compute/regionTargetHttpsProxy:RegionTargetHttpsProxy",
)
BACKEND_SERVICES = (
    "gcp:compute/backendService:BackendService",
    "gcp:compute/regionBackendService:RegionBackendService",
)
SECURITY_POLICY = "gcp:compute/securityPolicy:SecurityPolicy"
SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
CRYPTO_KEY_IAM = ("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "gcp:kms/cryptoKeyIAMBinding:CryptoKeyIAMBinding")
REPOSITORY = "gcp:artifactregistry/repository:Repository"
REPOSITORY_IAM = (
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
    "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding",
)
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = ("gcp:storage/bucketIAMMember:BucketIAMMember", "gcp:storage/bucketIAMBinding:BucketIAMBinding")
VERTEX_ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
PROJECT_IAM = ("gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding")

PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
DEFAULT_ACCOUNT = re.compile(r"^(serviceAccount:)?(\d+-compute@developer|[a-z0-9-]+@appspot)\.gserviceaccount\.com$")


def _rule(**kwargs: Any) -> Any:
    return resource_rule(cloud="gcp", **kwargs)


def members(args: ResourceValidationArgs) -> list[str]:
    """The principals an IAM member or binding resource grants to."""
    return strings(args.props.get("member")) + strings(args.props.get("members"))


def _public_grants(args: ResourceValidationArgs) -> Iterator[str]:
    for member in members(args):
        if member in PUBLIC_MEMBERS:
            yield f"{args.props.get('role')} is granted to {member}"


# --- Cloud Run v2 -----------------------------------------------------------------------------------------


@_rule(
    name="gcp-cloud-run-invoker-not-public",
    description="Cloud Run invoker grants name principals: no allUsers, allAuthenticatedUsers or domain-wide, "
    "and the IAM invoker check stays on.",
    resource_types=(*CLOUD_RUN_IAM, CLOUD_RUN),
    concern="least-privilege",
    level=MANDATORY,
    severity="critical",
    anchor="CKV_GCP_102",
    remediation="Grant roles/run.invoker to the callers' service accounts or groups (exposure.allowed_principals), "
    "and leave invokerIamDisabled unset.",
)
def cloud_run_invoker_not_public(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == CLOUD_RUN:
        if is_true(args.props.get("invokerIamDisabled")):
            yield "invokerIamDisabled lets anyone invoke the service"
        return
    yield from _public_grants(args)
    for member in members(args):
        if member.startswith("domain:"):
            yield f"{args.props.get('role')} is granted to a whole domain ({member})"


_INTERNAL_INGRESS = {"INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"}


@_rule(
    name="gcp-cloud-run-ingress",
    description="Cloud Run services accept internal traffic or traffic through the load balancer only.",
    resource_types=(CLOUD_RUN,),
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    remediation="Set ingress: INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER and publish through the HTTPS load balancer "
    "with Cloud Armor (or INTERNAL_ONLY for private services).",
)
def cloud_run_ingress(args: ResourceValidationArgs) -> Iterator[str]:
    ingress = args.props.get("ingress") or "INGRESS_TRAFFIC_ALL"
    if ingress not in _INTERNAL_INGRESS:
        yield f"ingress is {ingress}"


@_rule(
    name="gcp-cloud-run-cmek",
    description="Cloud Run services encrypt their image and data with a customer-managed key.",
    resource_types=(CLOUD_RUN,),
    concern="encryption",
    level=MANDATORY,
    severity="high",
    remediation="Set template.encryptionKey to the service's Cloud KMS key.",
)
def cloud_run_cmek(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_set(args.props, "template", "encryptionKey"):
        yield "template.encryptionKey is unset"


def _cloud_run_containers(args: ResourceValidationArgs) -> list[Mapping[str, Any]]:
    return [c for c in items(get(args.props, "template", "containers")) if isinstance(c, Mapping)]


@_rule(
    name="gcp-cloud-run-image-digest",
    description="Cloud Run containers run images pinned by digest; required in prod.",
    resource_types=(CLOUD_RUN,),
    concern="supply-chain",
    level=ADVISORY,
    severity="high",
    remediation="Use <region>-docker.pkg.dev/<project>/<repo>/<image>@sha256:<digest>.",
)
def cloud_run_image_digest(args: ResourceValidationArgs) -> Iterator[str]:
    for container in _cloud_run_containers(args):
        if not has_digest(container.get("image")):
            yield f"image {container.get('image')!r} is not pinned by digest"


@_rule(
    name="gcp-cloud-run-no-secret-env",
    description="Cloud Run credentials come from Secret Manager (valueSource), never literal env values.",
    resource_types=(CLOUD_RUN,),
    concern="compute-hardening",
    level=MANDATORY,
    severity="critical",
    remediation="Use envs[].valueSource.secretKeyRef with the Secret Manager secret.",
)
def cloud_run_no_secret_env(args: ResourceValidationArgs) -> Iterator[str]:
    for container in _cloud_run_containers(args):
        for env in items(container.get("envs")):
            name = str(get(env, "name", default=""))
            if SECRET_NAME.search(name) and get(env, "value"):
                yield f"{name} is a literal value"


@_rule(
    name="gcp-cloud-run-dedicated-service-account",
    description="Cloud Run revisions run as a dedicated service account, not the default compute account.",
    resource_types=(CLOUD_RUN,),
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    remediation="Create a service account for the service and set template.serviceAccount.",
)
def cloud_run_dedicated_service_account(args: ResourceValidationArgs) -> Iterator[str]:
    account = peek(args.props, "template", "serviceAccount")
    if account is UNKNOWN:
        return  # the email of a service account created in this stack: a dedicated account
    if not account or DEFAULT_ACCOUNT.match(str(account)):
        yield f"revisions run as {account or 'the default compute service account'}"


@_rule(
    name="gcp-cloud-run-max-instances",
    description="Cloud Run services cap their instance count so cost and downstream load stay bounded.",
    resource_types=(CLOUD_RUN,),
    concern="autoscaling",
    level=ADVISORY,
    severity="low",
    remediation="Set template.scaling.maxInstanceCount (scaling.max_replicas).",
)
def cloud_run_max_instances(args: ResourceValidationArgs) -> Iterator[str]:
    if not number(get(args.props, "template", "scaling", "maxInstanceCount")) and not number(
        get(args.props, "scaling", "maxInstanceCount")
    ):
        yield "no maximum instance count"


@_rule(
    name="gcp-cloud-run-binary-authorization",
    description="Cloud Run services enforce Binary Authorization.",
    resource_types=(CLOUD_RUN,),
    concern="supply-chain",
    level=ADVISORY,
    severity="medium",
    remediation="Set binaryAuthorization: {useDefault: true} (or a named policy).",
)
def cloud_run_binary_authorization(args: ResourceValidationArgs) -> Iterator[str]:
    auth = args.props.get("binaryAuthorization") or {}
    if not is_true(get(auth, "useDefault")) and not get(auth, "policy"):
        yield "Binary Authorization is not enforced"


# --- GKE --------------------------------------------------------------------------------------------------


@_rule(
    name="gcp-gke-database-encryption",
    description="GKE encrypts Kubernetes Secrets in etcd with a Cloud KMS key (application-layer encryption).",
    resource_types=(GKE_CLUSTER,),
    concern="encryption",
    level=MANDATORY,
    severity="high",
    remediation="Set databaseEncryption: {state: ENCRYPTED, keyName: <crypto key>} and grant the GKE service "
    "agent cryptoKeyEncrypterDecrypter.",
)
def gke_database_encryption(args: ResourceValidationArgs) -> Iterator[str]:
    encryption = args.props.get("databaseEncryption") or {}
    if get(encryption, "state") != "ENCRYPTED" or not is_set(encryption, "keyName"):
        yield "application-layer Secrets encryption is off"


@_rule(
    name="gcp-gke-private-nodes",
    description="GKE nodes have no public IP addresses.",
    resource_types=(GKE_CLUSTER,),
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    anchor="CKV_GCP_64, CKV_GCP_25",
    remediation="Set privateClusterConfig.enablePrivateNodes: true (Cloud NAT provides egress).",
)
def gke_private_nodes(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(args.props, "privateClusterConfig", "enablePrivateNodes")):
        yield "nodes get public IPs"


@_rule(
    name="gcp-gke-control-plane-access",
    description="The GKE control plane is private or limited to authorised networks.",
    resource_types=(GKE_CLUSTER,),
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    anchor="CKV_GCP_18, CKV_GCP_20",
    remediation="Set privateClusterConfig.enablePrivateEndpoint: true or masterAuthorizedNetworksConfig with "
    "the operators' CIDRs.",
)
def gke_control_plane_access(args: ResourceValidationArgs) -> Iterator[str]:
    private = is_true(get(args.props, "privateClusterConfig", "enablePrivateEndpoint"))
    blocks = items(get(args.props, "masterAuthorizedNetworksConfig", "cidrBlocks"))
    if private:
        return
    if not blocks:
        yield "the control plane endpoint is public without authorised networks"
    for block in blocks:
        if get(block, "cidrBlock") == "0.0.0.0/0":
            yield "authorised networks include 0.0.0.0/0"


@_rule(
    name="gcp-gke-workload-identity",
    description="GKE pods use Workload Identity rather than the node's service account.",
    resource_types=(GKE_CLUSTER,),
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    anchor="CKV_GCP_69",
    remediation="Set workloadIdentityConfig.workloadPool: <project>.svc.id.goog (Autopilot enables it).",
)
def gke_workload_identity(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(args.props.get("enableAutopilot")) and not is_set(
        args.props, "workloadIdentityConfig", "workloadPool"
    ):
        yield "Workload Identity is not enabled"


@_rule(
    name="gcp-gke-regional",
    description="GKE clusters are regional so the control plane and nodes survive a zone outage.",
    resource_types=(GKE_CLUSTER,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    remediation="Set location to a region (europe-west4), not a zone (europe-west4-a).",
)
def gke_regional(args: ResourceValidationArgs) -> Iterator[str]:
    location = str(args.props.get("location") or "")
    if re.search(r"-[a-z]$", location):
        yield f"location {location} is a single zone"


@_rule(
    name="gcp-gke-logging",
    description="GKE clusters send system and workload logs to Cloud Logging.",
    resource_types=(GKE_CLUSTER,),
    concern="logging",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_GCP_1",
    remediation="Leave loggingService at logging.googleapis.com/kubernetes and enable SYSTEM_COMPONENTS and "
    "WORKLOADS in loggingConfig.",
)
def gke_logging(args: ResourceValidationArgs) -> Iterator[str]:
    if args.props.get("loggingService") == "none":
        yield "loggingService is none"
    components = get(args.props, "loggingConfig", "enableComponents")
    if components is not None and "SYSTEM_COMPONENTS" not in strings(components):
        yield "system component logs are off"


@_rule(
    name="gcp-gke-binary-authorization",
    description="GKE clusters enforce Binary Authorization.",
    resource_types=(GKE_CLUSTER,),
    concern="supply-chain",
    level=ADVISORY,
    severity="medium",
    anchor="CKV_GCP_66",
    remediation="Set binaryAuthorization.evaluationMode: PROJECT_SINGLETON_POLICY_ENFORCE.",
)
def gke_binary_authorization(args: ResourceValidationArgs) -> Iterator[str]:
    mode = get(args.props, "binaryAuthorization", "evaluationMode")
    if mode in (None, "DISABLED"):
        yield "Binary Authorization is not enforced"


@_rule(
    name="gcp-gke-node-service-account",
    description="GKE nodes run as a dedicated least-privilege service account, not the default compute account.",
    resource_types=(GKE_CLUSTER, GKE_NODE_POOL),
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    anchor="CKV2_GCP_1",
    remediation="Set nodeConfig.serviceAccount (or clusterAutoscaling.autoProvisioningDefaults.serviceAccount for "
    "Autopilot) to a service account with only logging and monitoring writer roles.",
)
def gke_node_service_account(args: ResourceValidationArgs) -> Iterator[str]:
    accounts = [
        peek(args.props, "nodeConfig", "serviceAccount"),
        peek(args.props, "clusterAutoscaling", "autoProvisioningDefaults", "serviceAccount"),
    ]
    chosen = [a for a in accounts if a]
    named = [a for a in chosen if a is not UNKNOWN]
    if not chosen or any(DEFAULT_ACCOUNT.match(str(a)) or a == "default" for a in named):
        yield "nodes run as the default compute service account"


# --- Compute Engine ---------------------------------------------------------------------------------------


@_rule(
    name="gcp-vm-shielded",
    description="VMs boot as Shielded VMs: secure boot, vTPM and integrity monitoring.",
    resource_types=VM_TYPES,
    concern="compute-hardening",
    level=MANDATORY,
    severity="high",
    anchor="CKV_GCP_39",
    remediation="Set shieldedInstanceConfig: {enableSecureBoot: true, enableVtpm: true, "
    "enableIntegrityMonitoring: true} with a Shielded-VM image such as COS.",
)
def vm_shielded(args: ResourceValidationArgs) -> Iterator[str]:
    config = args.props.get("shieldedInstanceConfig") or {}
    if not is_true(get(config, "enableSecureBoot")):
        yield "secure boot is off"
    for key in ("enableVtpm", "enableIntegrityMonitoring"):
        if is_false(get(config, key)):
            yield f"{key} is false"


@_rule(
    name="gcp-vm-no-public-ip",
    description="VMs have no external IP addresses.",
    resource_types=VM_TYPES,
    concern="compute-hardening",
    level=MANDATORY,
    severity="high",
    anchor="CKV_GCP_40",
    remediation="Remove networkInterfaces[].accessConfigs; Cloud NAT and the load balancer handle traffic.",
)
def vm_no_public_ip(args: ResourceValidationArgs) -> Iterator[str]:
    for index, nic in enumerate(items(args.props.get("networkInterfaces"))):
        if items(get(nic, "accessConfigs")) or items(get(nic, "ipv6AccessConfigs")):
            yield f"networkInterfaces[{index}] has an external IP"


@_rule(
    name="gcp-vm-disk-cmek",
    description="VM disks are encrypted with a customer-managed key.",
    resource_types=VM_TYPES,
    concern="encryption",
    level=MANDATORY,
    severity="high",
    anchor="CKV_GCP_38",
    remediation="Set disks[].diskEncryptionKey.kmsKeySelfLink (bootDisk.kmsKeySelfLink for instances).",
)
def vm_disk_cmek(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == INSTANCE:
        if not is_set(args.props, "bootDisk", "kmsKeySelfLink"):
            yield "the boot disk is not encrypted with a CMEK"
        return
    for index, disk in enumerate(items(args.props.get("disks"))):
        if not is_set(disk, "diskEncryptionKey", "kmsKeySelfLink"):
            yield f"disks[{index}] is not encrypted with a CMEK"


def _metadata(args: ResourceValidationArgs) -> Mapping[str, Any]:
    return args.props.get("metadata") or {}


@_rule(
    name="gcp-vm-os-login",
    description="VMs use OS Login and block project-wide SSH keys.",
    resource_types=VM_TYPES,
    concern="compute-hardening",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_GCP_32, CKV_GCP_33",
    remediation="Set metadata enable-oslogin: TRUE and block-project-ssh-keys: TRUE.",
)
def vm_os_login(args: ResourceValidationArgs) -> Iterator[str]:
    metadata = _metadata(args)
    if not is_true(metadata.get("enable-oslogin")):
        yield "enable-oslogin is not TRUE"
    if not is_true(metadata.get("block-project-ssh-keys")):
        yield "project-wide SSH keys are not blocked"


@_rule(
    name="gcp-vm-serial-port-disabled",
    description="VMs do not enable interactive serial-port access.",
    resource_types=VM_TYPES,
    concern="compute-hardening",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_GCP_35",
    remediation="Remove serial-port-enable from metadata.",
)
def vm_serial_port_disabled(args: ResourceValidationArgs) -> Iterator[str]:
    if is_true(_metadata(args).get("serial-port-enable")) or str(_metadata(args).get("serial-port-enable")) == "1":
        yield "serial-port-enable is on"


@_rule(
    name="gcp-vm-dedicated-service-account",
    description="VMs run as a dedicated service account, never the default one or with cloud-platform scope on it.",
    resource_types=VM_TYPES,
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    anchor="CKV_GCP_30",
    remediation="Create a service account with only Artifact Registry reader and log/metric writer roles.",
)
def vm_dedicated_service_account(args: ResourceValidationArgs) -> Iterator[str]:
    email = peek(args.props, "serviceAccount", "email")
    if email is UNKNOWN:
        return  # the email of a service account created in this stack: a dedicated account
    if not email or email == "default" or DEFAULT_ACCOUNT.match(str(email)):
        yield f"the VM runs as {email or 'the default compute service account'}"


def _startup_text(args: ResourceValidationArgs) -> str:
    metadata = _metadata(args)
    parts = [metadata.get("user-data"), metadata.get("startup-script"), args.props.get("metadataStartupScript")]
    return "\n".join(str(p) for p in parts if p)


@_rule(
    name="gcp-vm-metadata-no-secrets",
    description="VM metadata (cloud-init, startup scripts) carries no credentials.",
    resource_types=VM_TYPES,
    concern="compute-hardening",
    level=MANDATORY,
    severity="critical",
    remediation="Read secrets from Secret Manager at boot with the VM's service account.",
)
def vm_metadata_no_secrets(args: ResourceValidationArgs) -> Iterator[str]:
    for finding in secret_findings(_startup_text(args)):
        yield f"startup metadata contains {finding}"


@_rule(
    name="gcp-vm-image-digest",
    description="Containers started from VM cloud-init are pinned by digest; required in prod.",
    resource_types=VM_TYPES,
    concern="supply-chain",
    level=ADVISORY,
    severity="high",
    remediation="Reference the image as repo@sha256:<digest> in the cloud-init unit.",
)
def vm_image_digest(args: ResourceValidationArgs) -> Iterator[str]:
    yield from unpinned_boot_images(args, _startup_text(args), "startup metadata", "cloud-init")


@_rule(
    name="gcp-mig-multi-zone",
    description="Managed instance groups are regional and span at least two zones (three in prod).",
    resource_types=(REGION_MIG, ZONAL_MIG),
    concern="availability",
    level=MANDATORY,
    severity="high",
    remediation="Use a RegionInstanceGroupManager; leave distributionPolicyZones unset (three zones) or list three.",
)
def mig_multi_zone(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == ZONAL_MIG:
        yield "a zonal instance group runs in a single zone"
        return
    zones = items(args.props.get("distributionPolicyZones"))
    needed = 3 if environment(args) == "prod" else 2
    if zones and len(zones) < needed:
        yield f"the group spans {len(zones)} zone(s); {needed} are required"


@_rule(
    name="gcp-mig-auto-healing",
    description="Managed instance groups recreate instances that fail an application health check.",
    resource_types=(REGION_MIG, ZONAL_MIG),
    concern="availability",
    level=ADVISORY,
    severity="medium",
    remediation="Set autoHealingPolicies: {healthCheck, initialDelaySec covering model load}.",
)
def mig_auto_healing(args: ResourceValidationArgs) -> Iterator[str]:
    if not get(args.props, "autoHealingPolicies", "healthCheck") and not get(
        args.props, "autoHealingPolicies", 0, "healthCheck"
    ):
        yield "no auto-healing health check"


@_rule(
    name="gcp-autoscaler-min-replicas-prod",
    description="In prod, autoscalers keep at least two instances.",
    resource_types=AUTOSCALERS,
    concern="availability",
    level=MANDATORY,
    severity="high",
    prod_only=True,
    remediation="Set autoscalingPolicy.minReplicas to 2 or more (scaling.min_replicas).",
)
def autoscaler_min_replicas_prod(args: ResourceValidationArgs) -> Iterator[str]:
    minimum = number(get(args.props, "autoscalingPolicy", "minReplicas"))
    if minimum is None or minimum < 2:
        yield f"minReplicas is {int(minimum) if minimum is not None else 'unset'}"


# --- load balancing ---------------------------------------------------------------------------------------


@_rule(
    name="gcp-ssl-policy-modern",
    description="SSL policies require TLS 1.2 with the MODERN or RESTRICTED profile.",
    resource_types=(SSL_POLICY, REGION_SSL_POLICY),
    concern="tls",
    level=MANDATORY,
    severity="high",
    anchor="CKV_GCP_4",
    remediation="Set profile: RESTRICTED (or MODERN) and minTlsVersion: TLS_1_2.",
)
def ssl_policy_modern(args: ResourceValidationArgs) -> Iterator[str]:
    profile = args.props.get("profile") or "COMPATIBLE"
    if profile not in ("MODERN", "RESTRICTED"):
        yield f"profile is {profile}"
    if (args.props.get("minTlsVersion") or "TLS_1_0") not in ("TLS_1_2", "TLS_1_3"):
        yield f"minTlsVersion is {args.props.get('minTlsVersion') or 'TLS_1_0'}"


@_rule(
    name="gcp-https-proxy-ssl-policy",
    description="HTTPS proxies attach an SSL policy; without one the COMPATIBLE profile allows TLS 1.0.",
    resource_types=HTTPS_PROXIES,
    concern="tls",
    level=MANDATORY,
    severity="high",
    remediation="Set sslPolicy to a MODERN/RESTRICTED TLS 1.2 SSL policy.",
)
def https_proxy_ssl_policy(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_set(args.props, "sslPolicy"):
        yield "no sslPolicy"


_EXTERNAL_SCHEMES = {"EXTERNAL", "EXTERNAL_MANAGED"}


@_rule(
    name="gcp-backend-cloud-armor",
    description="Backend services behind an external load balancer are protected by a Cloud Armor policy.",
    resource_types=BACKEND_SERVICES,
    concern="waf",
    level=MANDATORY,
    severity="high",
    remediation="Set securityPolicy to a Cloud Armor policy with the preconfigured OWASP and cve-canary rules.",
)
def backend_cloud_armor(args: ResourceValidationArgs) -> Iterator[str]:
    if (args.props.get("loadBalancingScheme") or "EXTERNAL") not in _EXTERNAL_SCHEMES:
        args.not_applicable("internal backends are not internet-facing")
    if not is_set(args.props, "securityPolicy"):
        yield "no Cloud Armor securityPolicy"


@_rule(
    name="gcp-armor-log4j",
    description="Cloud Armor policies include the preconfigured Log4Shell (cve-canary) rule.",
    resource_types=(SECURITY_POLICY,),
    concern="waf",
    level=ADVISORY,
    severity="medium",
    anchor="CKV_GCP_73",
    remediation="Add a deny rule with expression evaluatePreconfiguredWaf('cve-canary').",
)
def armor_log4j(args: ResourceValidationArgs) -> Iterator[str]:
    expressions = " ".join(
        str(get(rule, "match", "expr", "expression", default="")) for rule in items(args.props.get("rules"))
    )
    if "cve-canary" not in expressions:
        yield "no cve-canary (Log4Shell) rule"


@_rule(
    name="gcp-backend-logging",
    description="Load-balanced backend services log requests.",
    resource_types=BACKEND_SERVICES,
    concern="logging",
    level=ADVISORY,
    severity="low",
    remediation="Set logConfig: {enable: true, sampleRate: 1.0}.",
)
def backend_logging(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(args.props, "logConfig", "enable")):
        yield "request logging is off"


# --- network ----------------------------------------------------------------------------------------------


@_rule(
    name="gcp-subnet-flow-logs",
    description="Subnets record VPC flow logs.",
    resource_types=(SUBNETWORK,),
    concern="logging",
    level=ADVISORY,
    severity="medium",
    anchor="CKV_GCP_26",
    remediation="Set logConfig: {aggregationInterval: INTERVAL_5_SEC, flowSampling: 0.5, "
    "metadata: INCLUDE_ALL_METADATA}.",
)
def subnet_flow_logs(args: ResourceValidationArgs) -> Iterator[str]:
    if args.props.get("purpose") in ("REGIONAL_MANAGED_PROXY", "GLOBAL_MANAGED_PROXY", "PRIVATE_SERVICE_CONNECT"):
        args.not_applicable("proxy-only and PSC subnets have no flow logs")
    if not args.props.get("logConfig"):
        yield "flow logs are off"


@_rule(
    name="gcp-subnet-private-google-access",
    description="Subnets reach Google APIs privately, so private VMs need no public route for them.",
    resource_types=(SUBNETWORK,),
    concern="network-exposure",
    level=ADVISORY,
    severity="low",
    anchor="CKV_GCP_74",
    remediation="Set privateIpGoogleAccess: true.",
)
def subnet_private_google_access(args: ResourceValidationArgs) -> Iterator[str]:
    if args.props.get("purpose") in ("REGIONAL_MANAGED_PROXY", "GLOBAL_MANAGED_PROXY", "PRIVATE_SERVICE_CONNECT"):
        args.not_applicable("proxy-only and PSC subnets host no VMs")
    if not is_true(args.props.get("privateIpGoogleAccess")):
        yield "privateIpGoogleAccess is not true"


def _allowed_ports(rule: Any) -> list[str]:
    ports = strings(get(rule, "ports"))
    return ports or ["all"]


@_rule(
    name="gcp-firewall-no-open-ingress",
    description="Firewall rules open nothing to 0.0.0.0/0 except HTTPS (and HTTP for redirects).",
    resource_types=(FIREWALL,),
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    anchor="CKV_GCP_2, CKV_GCP_3, CKV2_GCP_12",
    remediation="Allow the load balancer and health-check ranges (35.191.0.0/16, 130.211.0.0/22) or named callers.",
)
def firewall_no_open_ingress(args: ResourceValidationArgs) -> Iterator[str]:
    if (args.props.get("direction") or "INGRESS") != "INGRESS" or is_true(args.props.get("disabled")):
        return
    if not {"0.0.0.0/0", "::/0"} & set(strings(args.props.get("sourceRanges"))):
        return
    for rule in items(args.props.get("allows")):
        risky = [p for p in _allowed_ports(rule) if p not in ("443", "80")]
        if risky:
            yield f"{get(rule, 'protocol')} ports {', '.join(risky)} are open to the internet"


# --- keys, registries, buckets ----------------------------------------------------------------------------


@_rule(
    name="gcp-kms-key-rotation",
    description="Cloud KMS keys rotate at least every 90 days.",
    resource_types=(CRYPTO_KEY,),
    concern="encryption",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_GCP_43",
    remediation="Set rotationPeriod: 7776000s.",
)
def kms_key_rotation(args: ResourceValidationArgs) -> Iterator[str]:
    if args.props.get("purpose") not in (None, "ENCRYPT_DECRYPT"):
        args.not_applicable("only symmetric encryption keys rotate automatically")
    period = str(args.props.get("rotationPeriod") or "")
    seconds = number(period.removesuffix("s")) if period else None
    if seconds is None or seconds > 7_776_000:
        yield f"rotationPeriod is {period or 'unset'}"


@_rule(
    name="gcp-iam-no-public-access",
    description="KMS keys, registries and buckets are never granted to allUsers or allAuthenticatedUsers.",
    resource_types=(*CRYPTO_KEY_IAM, *REPOSITORY_IAM, *BUCKET_IAM),
    concern="least-privilege",
    level=MANDATORY,
    severity="critical",
    anchor="CKV_GCP_28, CKV_GCP_101, CKV_GCP_112, CKV2_GCP_6",
    remediation="Grant the role to named service accounts or groups.",
)
def iam_no_public_access(args: ResourceValidationArgs) -> Iterator[str]:
    yield from _public_grants(args)


_BASIC_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}


@_rule(
    name="gcp-project-no-basic-roles",
    description="Project IAM grants predefined roles, never the basic owner, editor or viewer roles.",
    resource_types=PROJECT_IAM,
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    anchor="CKV_GCP_117, CKV_GCP_42",
    remediation="Grant narrow predefined roles (roles/logging.logWriter, roles/artifactregistry.reader, ...).",
)
def project_no_basic_roles(args: ResourceValidationArgs) -> Iterator[str]:
    if args.props.get("role") in _BASIC_ROLES:
        yield f"grants the basic role {args.props.get('role')}"


@_rule(
    name="gcp-artifact-registry-cmek",
    description="Artifact Registry repositories are encrypted with a customer-managed key.",
    resource_types=(REPOSITORY,),
    concern="encryption",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_GCP_84",
    remediation="Set kmsKeyName and grant the Artifact Registry service agent the key.",
)
def artifact_registry_cmek(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_set(args.props, "kmsKeyName"):
        yield "kmsKeyName is unset"


@_rule(
    name="gcp-artifact-registry-immutable-tags",
    description="Docker repositories in Artifact Registry have immutable tags.",
    resource_types=(REPOSITORY,),
    concern="supply-chain",
    level=MANDATORY,
    severity="high",
    remediation="Set dockerConfig.immutableTags: true.",
)
def artifact_registry_immutable_tags(args: ResourceValidationArgs) -> Iterator[str]:
    if (args.props.get("format") or "DOCKER").upper() != "DOCKER":
        args.not_applicable("only Docker repositories have tags")
    if not is_true(get(args.props, "dockerConfig", "immutableTags")):
        yield "tags are mutable"


@_rule(
    name="gcp-artifact-registry-scanning",
    description="Artifact Registry repositories keep vulnerability scanning on.",
    resource_types=(REPOSITORY,),
    concern="supply-chain",
    level=ADVISORY,
    severity="medium",
    anchor="CKV2_GCP_11",
    remediation="Leave vulnerabilityScanningConfig.enablementConfig unset or INHERITED with the Container "
    "Scanning API on.",
)
def artifact_registry_scanning(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "vulnerabilityScanningConfig", "enablementConfig") == "DISABLED":
        yield "vulnerability scanning is disabled"


@_rule(
    name="gcp-bucket-hardening",
    description="Buckets use CMEK, uniform bucket-level access and enforced public access prevention.",
    resource_types=(BUCKET,),
    concern="encryption",
    level=MANDATORY,
    severity="high",
    anchor="CKV_GCP_29, CKV_GCP_114",
    remediation="Set encryption.defaultKmsKeyName, uniformBucketLevelAccess: true and "
    "publicAccessPrevention: enforced.",
)
def bucket_hardening(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_set(args.props, "encryption", "defaultKmsKeyName"):
        yield "no default CMEK"
    if not is_true(args.props.get("uniformBucketLevelAccess")):
        yield "uniform bucket-level access is off"
    if args.props.get("publicAccessPrevention") != "enforced":
        yield "public access prevention is not enforced"


# --- Vertex AI --------------------------------------------------------------------------------------------


@_rule(
    name="gcp-vertex-endpoint-cmek",
    description="Vertex AI endpoints are encrypted with a customer-managed key.",
    resource_types=(VERTEX_ENDPOINT,),
    concern="encryption",
    level=MANDATORY,
    severity="high",
    remediation="Set encryptionSpec.kmsKeyName.",
)
def vertex_endpoint_cmek(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_set(args.props, "encryptionSpec", "kmsKeyName"):
        yield "encryptionSpec.kmsKeyName is unset"


@_rule(
    name="gcp-vertex-endpoint-private",
    description="Vertex AI endpoints are private (VPC peering or Private Service Connect).",
    resource_types=(VERTEX_ENDPOINT,),
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    remediation="Set network (peered VPC) or privateServiceConnectConfig.enablePrivateServiceConnect: true.",
)
def vertex_endpoint_private(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_set(args.props, "network") and not is_true(
        get(args.props, "privateServiceConnectConfig", "enablePrivateServiceConnect")
    ):
        yield "the endpoint is public"


@_rule(
    name="gcp-vertex-request-logging",
    description="Vertex AI endpoints log prediction requests and responses.",
    resource_types=(VERTEX_ENDPOINT,),
    concern="logging",
    level=ADVISORY,
    severity="medium",
    remediation="Set predictRequestResponseLoggingConfig: {enabled: true, samplingRate, bigqueryDestination}.",
)
def vertex_request_logging(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(args.props, "predictRequestResponseLoggingConfig", "enabled")):
        yield "request-response logging is off"


# --- rules for what the GCP components create --------------------------------------------------------------

_REQUIRED_WAF = ("sqli", "xss")


@_rule(
    name="gcp-armor-waf-rate-limit",
    description="Cloud Armor policies deny the preconfigured SQL injection and XSS rule sets and rate-limit each "
    "client.",
    resource_types=(SECURITY_POLICY,),
    concern="waf",
    level=MANDATORY,
    severity="high",
    anchor="OWASP CRS via Cloud Armor preconfigured WAF rules",
    remediation="Add deny rules with evaluatePreconfiguredWaf('sqli-v33-stable') and ('xss-v33-stable'), and a "
    "throttle or rate_based_ban rule keyed on the client IP.",
)
def armor_waf_rate_limit(args: ResourceValidationArgs) -> Iterator[str]:
    rules = [r for r in items(args.props.get("rules")) if isinstance(r, Mapping)]
    denied = " ".join(
        str(get(r, "match", "expr", "expression", default=""))
        for r in rules
        if str(get(r, "action", default="")).startswith("deny")
    )
    for family in _REQUIRED_WAF:
        if f"evaluatePreconfiguredWaf('{family}" not in denied and f"evaluatePreconfiguredExpr('{family}" not in denied:
            yield f"no deny rule for the preconfigured {family} rule set"
    if not any(get(r, "action") in ("throttle", "rate_based_ban") and get(r, "rateLimitOptions") for r in rules):
        yield "no rate limit (throttle or rate_based_ban rule)"


@_rule(
    name="gcp-lb-external-managed",
    description="External Application Load Balancers use the EXTERNAL_MANAGED (Envoy) scheme, which carries Cloud "
    "Armor rate limiting and the current TLS and routing features; the classic scheme does not.",
    resource_types=(*BACKEND_SERVICES, *FORWARDING_RULES),
    concern="waf",
    level=ADVISORY,
    severity="medium",
    remediation="Set loadBalancingScheme: EXTERNAL_MANAGED on the backend service and forwarding rules.",
)
def lb_external_managed(args: ResourceValidationArgs) -> Iterator[str]:
    # Both resources default to the classic scheme when it is unset.
    if (args.props.get("loadBalancingScheme") or "EXTERNAL") == "EXTERNAL":
        yield "loadBalancingScheme is the classic EXTERNAL"


@_rule(
    name="gcp-internal-lb-https-prod",
    description="In prod, internal Application Load Balancers listen on HTTPS only.",
    resource_types=("gcp:compute/forwardingRule:ForwardingRule",),
    concern="tls",
    level=MANDATORY,
    severity="high",
    prod_only=True,
    remediation="Give the internal load balancer a regional SSL certificate (internal_certificate) so it "
    "listens on 443 through a RegionTargetHttpsProxy.",
)
def internal_lb_https_prod(args: ResourceValidationArgs) -> Iterator[str]:
    if args.props.get("loadBalancingScheme") != "INTERNAL_MANAGED":
        args.not_applicable("only internal Application Load Balancers (INTERNAL_MANAGED)")
    ports = str(args.props.get("portRange") or args.props.get("ports") or "")
    target = str(args.props.get("target") or "")
    if "targetHttpProxies" in target or ports.split("-")[0] in ("80", "8080"):
        yield f"the internal load balancer serves plain HTTP (port {ports or 'unset'})"


@_rule(
    name="gcp-mig-proactive-update",
    description="Managed instance groups replace instances proactively with a surge and never take one away "
    "before its replacement serves (maxUnavailable 0).",
    resource_types=(REGION_MIG, ZONAL_MIG),
    concern="availability",
    level=ADVISORY,
    severity="medium",
    remediation="Set updatePolicy: {type: PROACTIVE, maxSurgeFixed: <zones>, maxUnavailableFixed: 0}.",
)
def mig_proactive_update(args: ResourceValidationArgs) -> Iterator[str]:
    policy = args.props.get("updatePolicy")
    if not policy:
        yield "no update policy (the default may take instances away during an update)"
        return
    fixed, percent = number(get(policy, "maxUnavailableFixed")), number(get(policy, "maxUnavailablePercent"))
    if (fixed is None and percent is None) or (fixed or 0) > 0 or (percent or 0) > 0:
        yield f"maxUnavailable is {int(fixed) if fixed is not None else percent if percent is not None else 'unset'}"


@_rule(
    name="gcp-vm-no-container-declaration",
    description="VMs run containers from cloud-init, not the deprecated container declaration (konlet).",
    resource_types=VM_TYPES,
    concern="compute-hardening",
    level=ADVISORY,
    severity="low",
    remediation="Remove gce-container-declaration; start the digest-pinned image with a systemd unit in user-data "
    "on Container-Optimized OS.",
)
def vm_no_container_declaration(args: ResourceValidationArgs) -> Iterator[str]:
    if _metadata(args).get("gce-container-declaration"):
        yield "metadata carries gce-container-declaration (deprecated konlet)"


@_rule(
    name="gcp-external-backend-authenticated-prod",
    description="In prod, an internet-facing backend of VMs authenticates callers with Identity-Aware Proxy "
    "(anonymous public access is refused); serverless backends authenticate with the Cloud Run invoker check.",
    resource_types=("gcp:compute/backendService:BackendService",),
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    prod_only=True,
    remediation="Set iap: {enabled: true} and grant roles/iap.httpsResourceAccessor to the callers (the target "
    "option iap with exposure.allowed_principals).",
)
def external_backend_authenticated_prod(args: ResourceValidationArgs) -> Iterator[str]:
    if (args.props.get("loadBalancingScheme") or "EXTERNAL") not in _EXTERNAL_SCHEMES:
        args.not_applicable("internal backends are not internet-facing")
    if not is_set(args.props, "healthChecks"):
        # Serverless NEG backends take no health check; their Cloud Run service checks the caller's identity.
        args.not_applicable("a serverless backend: the Cloud Run invoker check authenticates")
    if not is_true(get(args.props, "iap", "enabled")):
        yield "the backend serves anyone on the internet: IAP is off"


def _dynamic_kind(args: ResourceValidationArgs, kind: str) -> None:
    if args.props.get("kind") != kind:
        args.not_applicable(f"not a modelport {kind}")


@_rule(
    name="gcp-vertex-deployment-replicas-prod",
    description="In prod, every Vertex AI deployed model keeps at least two dedicated replicas and can scale.",
    resource_types=(DYNAMIC,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    prod_only=True,
    remediation="Set scaling.min_replicas to 2 or more and scaling.max_replicas at or above it.",
)
def vertex_deployment_replicas_prod(args: ResourceValidationArgs) -> Iterator[str]:
    _dynamic_kind(args, "vertex-deployment")
    tracks = args.props.get("tracks")
    if not isinstance(tracks, Mapping) or not tracks:
        yield "the deployment names no tracks"
        return
    for name, track in tracks.items():
        low, high = number(get(track, "min_replicas")), number(get(track, "max_replicas"))
        if low is None or low < 2:
            yield f"track {name} keeps {int(low) if low is not None else 'no'} minimum replicas"
        if high is None or (low is not None and high < low):
            yield f"track {name} has max_replicas {high}"


@_rule(
    name="gcp-vertex-model-image",
    description="Vertex AI models run a serving image from Artifact Registry pinned by digest; the digest is "
    "required in prod.",
    resource_types=(DYNAMIC,),
    concern="supply-chain",
    level=ADVISORY,
    severity="high",
    remediation="Upload <region>-docker.pkg.dev/<project>/<repository>/<image>@sha256:<digest>.",
)
def vertex_model_image(args: ResourceValidationArgs) -> Iterator[str]:
    _dynamic_kind(args, "vertex-model")
    image = args.props.get("image")
    if not isinstance(image, str) or not image:
        yield "the model names no serving image"
        return
    if not re.match(r"^[a-z0-9-]+-docker\.pkg\.dev/", image):
        yield f"image {image!r} is not in Artifact Registry"
    if not has_digest(image):
        yield f"image {image!r} is not pinned by digest"


RULES = collect(globals())
