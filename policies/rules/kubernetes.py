"""Kubernetes rules: every Pod Security Standard "restricted" control, plus read-only root, limits, probes, RBAC."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from modelport.clusters import system_namespace
from modelport.networks import METADATA_ADDRESSES, covers_address, open_to_internet, subtract, to_networks
from pulumi_policy import ResourceValidationArgs

from .base import ADVISORY, MANDATORY, collect, environment, resource_rule
from .props import env_findings, get, has_digest, is_false, is_true, is_zero, items, number, strings

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
REPLICA_SET = "kubernetes:apps/v1:ReplicaSet"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"
NAMESPACE = "kubernetes:core/v1:Namespace"
SERVICE = "kubernetes:core/v1:Service"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"

# Where each workload kind keeps its pod template.
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    DEPLOYMENT: ("spec", "template"),
    STATEFUL_SET: ("spec", "template"),
    DAEMON_SET: ("spec", "template"),
    REPLICA_SET: ("spec", "template"),
    JOB: ("spec", "template"),
    CRON_JOB: ("spec", "jobTemplate", "spec", "template"),
}
WORKLOADS = (*POD_TEMPLATE_PATHS, POD)
# Long-running workloads that serve traffic (jobs run to completion and have no replicas to spread).
SERVING_WORKLOADS = (DEPLOYMENT, STATEFUL_SET)
ZONE_KEY = "topology.kubernetes.io/zone"


def pod_template(args: ResourceValidationArgs) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(pod metadata, pod spec) of a workload or a bare Pod."""
    if args.resource_type == POD:
        return get(args.props, "metadata", default={}), get(args.props, "spec", default={})
    template = get(args.props, *POD_TEMPLATE_PATHS[args.resource_type], default={})
    return get(template, "metadata", default={}), get(template, "spec", default={})


def containers(spec: Mapping[str, Any], *, all_kinds: bool = True) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(label, container) for app containers and, for PSS controls, init and ephemeral containers too."""
    kinds = ("containers", "initContainers", "ephemeralContainers") if all_kinds else ("containers",)
    for kind in kinds:
        for index, container in enumerate(items(spec.get(kind))):
            if isinstance(container, Mapping):
                name = container.get("name") or f"{kind}[{index}]"
                label = f"container '{name}'" if kind == "containers" else f"{kind[:-1]} '{name}'"
                yield label, container


def _workload_rule(**kwargs: Any) -> Any:
    return resource_rule(resource_types=WORKLOADS, cloud="kubernetes", **kwargs)


# --- Pod Security Standards: baseline controls (part of restricted) ---------------------------------------


@_workload_rule(
    name="k8s-pss-host-process",
    description="Windows pods must not run as HostProcess containers.",
    concern="pod-security",
    level=MANDATORY,
    severity="critical",
    anchor="PSS baseline: HostProcess",
    remediation="Remove securityContext.windowsOptions.hostProcess (or set it to false) on the pod and containers.",
)
def pss_host_process(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    if is_true(get(spec, "securityContext", "windowsOptions", "hostProcess")):
        yield "the pod sets securityContext.windowsOptions.hostProcess: true"
    for label, c in containers(spec):
        if is_true(get(c, "securityContext", "windowsOptions", "hostProcess")):
            yield f"{label} sets securityContext.windowsOptions.hostProcess: true"


@_workload_rule(
    name="k8s-pss-host-namespaces",
    description="Pods must not share the host's network, PID or IPC namespaces.",
    concern="pod-security",
    level=MANDATORY,
    severity="critical",
    anchor="PSS baseline: Host Namespaces (CKV_K8S_17, CKV_K8S_18, CKV_K8S_19)",
    remediation="Remove hostNetwork, hostPID and hostIPC from the pod spec.",
)
def pss_host_namespaces(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if is_true(spec.get(key)):
            yield f"the pod sets {key}: true"


@_workload_rule(
    name="k8s-pss-privileged",
    description="Containers must not run privileged.",
    concern="pod-security",
    level=MANDATORY,
    severity="critical",
    anchor="PSS baseline: Privileged Containers (CKV_K8S_16)",
    remediation="Remove securityContext.privileged or set it to false.",
)
def pss_privileged(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for label, c in containers(spec):
        if is_true(get(c, "securityContext", "privileged")):
            yield f"{label} sets securityContext.privileged: true"


@_workload_rule(
    name="k8s-pss-capabilities-add",
    description="Containers may add no Linux capability except NET_BIND_SERVICE.",
    concern="pod-security",
    level=MANDATORY,
    severity="high",
    anchor="PSS restricted: Capabilities (CKV_K8S_25, CKV_K8S_39)",
    remediation="Remove capabilities.add entries other than NET_BIND_SERVICE; the server binds an unprivileged port.",
)
def pss_capabilities_add(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for label, c in containers(spec):
        added = [
            cap
            for cap in strings(get(c, "securityContext", "capabilities", "add"))
            if cap.upper().removeprefix("CAP_") != "NET_BIND_SERVICE"
        ]
        if added:
            yield f"{label} adds capabilities {', '.join(added)}"


@_workload_rule(
    name="k8s-pss-host-path",
    description="Pods must not mount hostPath volumes.",
    concern="pod-security",
    level=MANDATORY,
    severity="critical",
    anchor="PSS baseline: HostPath Volumes",
    remediation="Replace hostPath volumes with emptyDir, a PersistentVolumeClaim, a ConfigMap or a Secret.",
)
def pss_host_path(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for volume in items(spec.get("volumes")):
        if get(volume, "hostPath") is not None:
            yield f"volume '{get(volume, 'name', default='?')}' is a hostPath volume"


@_workload_rule(
    name="k8s-pss-host-ports",
    description="Containers must not bind host ports.",
    concern="pod-security",
    level=MANDATORY,
    severity="high",
    anchor="PSS baseline: Host Ports (CKV_K8S_26)",
    remediation="Remove ports[].hostPort; expose the pod through a Service.",
)
def pss_host_ports(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for label, c in containers(spec):
        for port in items(c.get("ports")):
            host_port = number(get(port, "hostPort"))
            if host_port:
                yield f"{label} binds hostPort {int(host_port)}"


_APPARMOR_TYPES = {"RuntimeDefault", "Localhost"}
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


@_workload_rule(
    name="k8s-pss-apparmor",
    description="AppArmor may only be set to the runtime default or a localhost profile, never unconfined.",
    concern="pod-security",
    level=MANDATORY,
    severity="high",
    anchor="PSS baseline: AppArmor",
    remediation="Set appArmorProfile.type to RuntimeDefault (or Localhost) or leave it unset.",
)
def pss_apparmor(args: ResourceValidationArgs) -> Iterator[str]:
    metadata, spec = pod_template(args)
    pod_type = get(spec, "securityContext", "appArmorProfile", "type")
    if pod_type is not None and pod_type not in _APPARMOR_TYPES:
        yield f"the pod sets appArmorProfile.type: {pod_type}"
    for label, c in containers(spec):
        container_type = get(c, "securityContext", "appArmorProfile", "type")
        if container_type is not None and container_type not in _APPARMOR_TYPES:
            yield f"{label} sets appArmorProfile.type: {container_type}"
    annotations = get(metadata, "annotations", default={})
    for key in annotations:
        value = str(annotations.get(key))
        if key.startswith(_APPARMOR_ANNOTATION) and not (value == "runtime/default" or value.startswith("localhost/")):
            yield f"annotation {key} is {value}"


_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


@_workload_rule(
    name="k8s-pss-selinux",
    description="SELinux options may only pick a container type; custom users and roles are forbidden.",
    concern="pod-security",
    level=MANDATORY,
    severity="high",
    anchor="PSS baseline: SELinux",
    remediation="Remove seLinuxOptions.user and .role, and use a container_* type or none.",
)
def pss_selinux(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    contexts = [("the pod", get(spec, "securityContext", default={}))]
    contexts += [(label, get(c, "securityContext", default={})) for label, c in containers(spec)]
    for label, context in contexts:
        options = get(context, "seLinuxOptions", default={})
        selinux_type = get(options, "type", default="")
        if selinux_type not in _SELINUX_TYPES:
            yield f"{label} sets seLinuxOptions.type: {selinux_type}"
        for key in ("user", "role"):
            if get(options, key):
                yield f"{label} sets seLinuxOptions.{key}"


@_workload_rule(
    name="k8s-pss-proc-mount",
    description="Containers must use the default /proc mount type.",
    concern="pod-security",
    level=MANDATORY,
    severity="high",
    anchor="PSS baseline: /proc Mount Type",
    remediation="Remove securityContext.procMount or set it to Default.",
)
def pss_proc_mount(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for label, c in containers(spec):
        mount = get(c, "securityContext", "procMount")
        if mount is not None and mount != "Default":
            yield f"{label} sets procMount: {mount}"


_SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


@_workload_rule(
    name="k8s-pss-sysctls",
    description="Pods may only set the namespaced sysctls the Pod Security Standards call safe.",
    concern="pod-security",
    level=MANDATORY,
    severity="high",
    anchor="PSS baseline: Sysctls",
    remediation="Remove unsafe entries from securityContext.sysctls.",
)
def pss_sysctls(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for sysctl in items(get(spec, "securityContext", "sysctls")):
        name = get(sysctl, "name")
        if name not in _SAFE_SYSCTLS:
            yield f"the pod sets the unsafe sysctl {name}"


# --- Pod Security Standards: restricted controls ----------------------------------------------------------

_ALLOWED_VOLUME_SOURCES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


@_workload_rule(
    name="k8s-pss-volume-types",
    description="Pods may only use the volume types the restricted profile allows.",
    concern="pod-security",
    level=MANDATORY,
    severity="high",
    anchor="PSS restricted: Volume Types",
    remediation="Use configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected or "
    "secret volumes.",
)
def pss_volume_types(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for volume in items(spec.get("volumes")):
        if not isinstance(volume, Mapping):
            continue
        sources = [key for key in volume if key != "name"]
        disallowed = [s for s in sources if s not in _ALLOWED_VOLUME_SOURCES]
        if disallowed:
            yield f"volume '{volume.get('name')}' uses {', '.join(disallowed)}"


@_workload_rule(
    name="k8s-pss-privilege-escalation",
    description="Containers must set allowPrivilegeEscalation: false.",
    concern="pod-security",
    level=MANDATORY,
    severity="high",
    anchor="PSS restricted: Privilege Escalation (CKV_K8S_20)",
    remediation="Set securityContext.allowPrivilegeEscalation: false on every container.",
)
def pss_privilege_escalation(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for label, c in containers(spec):
        if not is_false(get(c, "securityContext", "allowPrivilegeEscalation")):
            yield f"{label} does not set allowPrivilegeEscalation: false"


@_workload_rule(
    name="k8s-pss-run-as-non-root",
    description="Pods must set runAsNonRoot: true, and no container may override it.",
    concern="pod-security",
    level=MANDATORY,
    severity="high",
    anchor="PSS restricted: Running as Non-root (CKV_K8S_23)",
    remediation="Set securityContext.runAsNonRoot: true on the pod (or on every container).",
)
def pss_run_as_non_root(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    pod_level = get(spec, "securityContext", "runAsNonRoot")
    for label, c in containers(spec):
        own = get(c, "securityContext", "runAsNonRoot")
        if is_false(own):
            yield f"{label} sets runAsNonRoot: false"
        elif own is None and not is_true(pod_level):
            yield f"{label} may run as root: neither it nor the pod sets runAsNonRoot: true"


@_workload_rule(
    name="k8s-pss-run-as-user",
    description="Pods and containers must not set runAsUser: 0.",
    concern="pod-security",
    level=MANDATORY,
    severity="high",
    anchor="PSS restricted: Running as Non-root user",
    remediation="Set runAsUser to a non-zero UID (the serving image uses 10001) or leave it unset.",
)
def pss_run_as_user(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    if number(get(spec, "securityContext", "runAsUser")) == 0:
        yield "the pod sets runAsUser: 0"
    for label, c in containers(spec):
        if number(get(c, "securityContext", "runAsUser")) == 0:
            yield f"{label} sets runAsUser: 0"


_SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}


@_workload_rule(
    name="k8s-pss-seccomp",
    description="Pods must use the RuntimeDefault or a Localhost seccomp profile, never Unconfined.",
    concern="pod-security",
    level=MANDATORY,
    severity="high",
    anchor="PSS restricted: Seccomp (CKV_K8S_31)",
    remediation="Set securityContext.seccompProfile.type: RuntimeDefault on the pod.",
)
def pss_seccomp(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    pod_type = get(spec, "securityContext", "seccompProfile", "type")
    if pod_type is not None and pod_type not in _SECCOMP_TYPES:
        yield f"the pod sets seccompProfile.type: {pod_type}"
    for label, c in containers(spec):
        own = get(c, "securityContext", "seccompProfile", "type")
        if own is not None and own not in _SECCOMP_TYPES:
            yield f"{label} sets seccompProfile.type: {own}"
        elif own is None and pod_type not in _SECCOMP_TYPES:
            yield f"{label} has no seccomp profile: set seccompProfile.type: RuntimeDefault"


@_workload_rule(
    name="k8s-pss-capabilities-drop-all",
    description="Containers must drop ALL Linux capabilities.",
    concern="pod-security",
    level=MANDATORY,
    severity="high",
    anchor="PSS restricted: Capabilities (CKV_K8S_28, CKV_K8S_37)",
    remediation="Set securityContext.capabilities.drop: [ALL] on every container.",
)
def pss_capabilities_drop_all(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for label, c in containers(spec):
        dropped = {cap.upper() for cap in strings(get(c, "securityContext", "capabilities", "drop"))}
        if "ALL" not in dropped:
            yield f"{label} does not drop ALL capabilities"


# --- beyond PSS: container hardening ----------------------------------------------------------------------


@_workload_rule(
    name="k8s-read-only-root-filesystem",
    description="Containers must run with a read-only root filesystem.",
    concern="pod-security",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_K8S_22",
    remediation="Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir at /tmp for scratch space.",
)
def read_only_root_filesystem(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for label, c in containers(spec, all_kinds=False):
        if not is_true(get(c, "securityContext", "readOnlyRootFilesystem")):
            yield f"{label} has a writable root filesystem"


@_workload_rule(
    name="k8s-resource-limits",
    description="Containers must set CPU and memory limits.",
    concern="pod-security",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_K8S_11, CKV_K8S_13",
    remediation="Set resources.limits.cpu and resources.limits.memory (the spec's resources.cpu / memory_mib).",
)
def resource_limits(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for label, c in containers(spec, all_kinds=False):
        missing = [k for k in ("cpu", "memory") if get(c, "resources", "limits", k) is None]
        if missing:
            yield f"{label} has no {' or '.join(missing)} limit"


@_workload_rule(
    name="k8s-resource-requests",
    description="Containers must request CPU and memory so scheduling and CPU-based autoscaling work.",
    concern="availability",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_K8S_10, CKV_K8S_12",
    remediation="Set resources.requests.cpu and resources.requests.memory.",
)
def resource_requests(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for label, c in containers(spec, all_kinds=False):
        missing = [k for k in ("cpu", "memory") if get(c, "resources", "requests", k) is None]
        if missing:
            yield f"{label} has no {' or '.join(missing)} request"


@resource_rule(
    name="k8s-readiness-probe",
    description="Serving containers must have a readiness probe so traffic waits for the model to load.",
    resource_types=(*SERVING_WORKLOADS, POD),
    cloud="kubernetes",
    concern="availability",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_K8S_9",
    remediation="Add readinessProbe.httpGet on the health.ready_path route.",
)
def readiness_probe(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for label, c in containers(spec, all_kinds=False):
        if not c.get("readinessProbe"):
            yield f"{label} has no readinessProbe"


@resource_rule(
    name="k8s-liveness-probe",
    description="Serving containers should have a liveness probe so a wedged server is restarted.",
    resource_types=(*SERVING_WORKLOADS, POD),
    cloud="kubernetes",
    concern="availability",
    level=ADVISORY,
    severity="low",
    anchor="CKV_K8S_8",
    remediation="Add livenessProbe.httpGet on the health.live_path route (and a startupProbe for slow loads).",
)
def liveness_probe(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for label, c in containers(spec, all_kinds=False):
        if not c.get("livenessProbe"):
            yield f"{label} has no livenessProbe"


@_workload_rule(
    name="k8s-image-digest",
    description="Container images must be pinned by digest (repo@sha256:...); required in prod.",
    concern="supply-chain",
    level=ADVISORY,
    severity="high",
    anchor="CKV_K8S_43",
    remediation="Deploy the image by digest: registry/repo@sha256:<64 hex>, e.g. from `docker buildx --push` output.",
)
def image_digest(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for label, c in containers(spec):
        image = c.get("image")
        if not has_digest(image):
            yield f"{label} runs {image!r}, which is not pinned by digest"


@_workload_rule(
    name="k8s-no-secret-env-values",
    description="Credentials must come from Secrets (valueFrom / envFrom), never literal env values.",
    concern="compute-hardening",
    level=MANDATORY,
    severity="high",
    anchor="CKV_K8S_35",
    remediation="Move the value into a Secret and reference it with env[].valueFrom.secretKeyRef.",
)
def no_secret_env_values(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    for label, c in containers(spec):
        for name, finding in env_findings(c.get("env")):
            yield f"{label} sets {name} to {finding}"


@_workload_rule(
    name="k8s-no-default-service-account",
    description="Workloads must run as a dedicated ServiceAccount, not the namespace's default one.",
    concern="least-privilege",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_K8S_41",
    remediation="Create a ServiceAccount for the workload and set serviceAccountName.",
)
def no_default_service_account(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if not account or account == "default":
        yield "the pod runs as the default ServiceAccount"


@resource_rule(
    name="k8s-service-account-token-automount",
    description="API tokens must not be mounted into pods that do not call the Kubernetes API.",
    resource_types=(*WORKLOADS, SERVICE_ACCOUNT),
    cloud="kubernetes",
    concern="least-privilege",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_K8S_38",
    remediation="Set automountServiceAccountToken: false on the ServiceAccount and leave the pod's unset or false.",
)
def service_account_token_automount(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == SERVICE_ACCOUNT:
        if not is_false(args.props.get("automountServiceAccountToken")):
            yield "the ServiceAccount does not set automountServiceAccountToken: false"
        return
    _, spec = pod_template(args)
    if is_true(spec.get("automountServiceAccountToken")):
        yield "the pod sets automountServiceAccountToken: true"


@resource_rule(
    name="k8s-no-default-namespace",
    description="Workloads must not be deployed into the default namespace.",
    resource_types=(*WORKLOADS, SERVICE, SERVICE_ACCOUNT, HPA, PDB),
    cloud="kubernetes",
    concern="least-privilege",
    level=MANDATORY,
    severity="low",
    anchor="CKV_K8S_21",
    remediation="Deploy into a dedicated namespace labelled for Pod Security 'restricted'.",
)
def no_default_namespace(args: ResourceValidationArgs) -> Iterator[str]:
    namespace = get(args.props, "metadata", "namespace")
    if namespace in (None, "", "default"):
        yield "the object is in the default namespace"


@resource_rule(
    name="k8s-namespace-pss-restricted",
    description="Namespaces must enforce the Pod Security Standard 'restricted' through admission labels.",
    resource_types=(NAMESPACE,),
    cloud="kubernetes",
    concern="pod-security",
    level=MANDATORY,
    severity="high",
    anchor="PSS admission: enforce restricted",
    remediation="Label the namespace pod-security.kubernetes.io/enforce: restricted (plus audit and warn).",
)
def namespace_pss_restricted(args: ResourceValidationArgs) -> Iterator[str]:
    labels = get(args.props, "metadata", "labels", default={})
    enforce = labels.get("pod-security.kubernetes.io/enforce")
    if enforce != "restricted":
        yield f"pod-security.kubernetes.io/enforce is {enforce or 'unset'}, not restricted"


# --- availability -----------------------------------------------------------------------------------------


@resource_rule(
    name="k8s-topology-spread",
    description="Serving workloads spread their replicas across zones; strictly (DoNotSchedule) in prod.",
    resource_types=SERVING_WORKLOADS,
    cloud="kubernetes",
    concern="availability",
    level=ADVISORY,
    severity="medium",
    remediation="Add topologySpreadConstraints on topology.kubernetes.io/zone with whenUnsatisfiable: "
    "DoNotSchedule (zone_spread), plus a ScheduleAnyway one on kubernetes.io/hostname.",
)
def topology_spread(args: ResourceValidationArgs) -> Iterator[str]:
    _, spec = pod_template(args)
    zone = [c for c in items(spec.get("topologySpreadConstraints")) if get(c, "topologyKey") == ZONE_KEY]
    if not zone:
        yield f"no topologySpreadConstraints over {ZONE_KEY}"
    elif environment(args) == "prod" and not any(get(c, "whenUnsatisfiable") == "DoNotSchedule" for c in zone):
        yield "the zone spread is only preferred (ScheduleAnyway); prod needs DoNotSchedule"


@resource_rule(
    name="k8s-rolling-update-surge",
    description="Deployments should roll out with maxUnavailable: 0 so capacity never drops during a rollout.",
    resource_types=(DEPLOYMENT,),
    cloud="kubernetes",
    concern="availability",
    level=ADVISORY,
    severity="low",
    remediation="Set strategy.rollingUpdate.maxUnavailable: 0 and a maxSurge of at least 1.",
)
def rolling_update_surge(args: ResourceValidationArgs) -> Iterator[str]:
    strategy = get(args.props, "spec", "strategy", default={})
    if get(strategy, "type") == "Recreate":
        yield "the Recreate strategy takes every replica down at once"
        return
    unavailable = get(strategy, "rollingUpdate", "maxUnavailable")
    if unavailable is None or not is_zero(unavailable):
        yield f"rollingUpdate.maxUnavailable is {unavailable if unavailable is not None else 'unset (25%)'}"


@resource_rule(
    name="k8s-pdb-allows-eviction",
    description="A PodDisruptionBudget must leave room for one eviction, or node drains and upgrades stall.",
    resource_types=(PDB,),
    cloud="kubernetes",
    concern="availability",
    level=MANDATORY,
    severity="medium",
    remediation="Use maxUnavailable: 1 rather than minAvailable equal to the replica count or 100%.",
)
def pdb_allows_eviction(args: ResourceValidationArgs) -> Iterator[str]:
    spec = get(args.props, "spec", default={})
    unavailable = get(spec, "maxUnavailable")
    available = get(spec, "minAvailable")
    if unavailable is not None and is_zero(unavailable):
        yield "maxUnavailable: 0 blocks every voluntary eviction"
    if available is not None and str(available).strip() == "100%":
        yield "minAvailable: 100% blocks every voluntary eviction"


@resource_rule(
    name="k8s-hpa-scale-down-stabilization",
    description="HPAs should stabilise scale-down so a short lull does not drop warm model replicas.",
    resource_types=(HPA,),
    cloud="kubernetes",
    concern="autoscaling",
    level=ADVISORY,
    severity="low",
    remediation="Set behavior.scaleDown.stabilizationWindowSeconds to 300 or more.",
)
def hpa_scale_down_stabilization(args: ResourceValidationArgs) -> Iterator[str]:
    window = number(get(args.props, "spec", "behavior", "scaleDown", "stabilizationWindowSeconds"))
    if window is not None and window < 300:
        yield f"scale-down stabilization window is {int(window)}s"


# --- exposure, TLS, RBAC ----------------------------------------------------------------------------------

_INTERNAL_LB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-internal": {"true"},
    "service.beta.kubernetes.io/aws-load-balancer-scheme": {"internal"},
    "networking.gke.io/load-balancer-type": {"internal"},
    "cloud.google.com/load-balancer-type": {"internal"},
    "service.beta.kubernetes.io/azure-load-balancer-internal": {"true"},
}


@resource_rule(
    name="k8s-service-not-public",
    description="Services must not open a public load balancer or node ports; expose through TLS ingress.",
    resource_types=(SERVICE,),
    cloud="kubernetes",
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    remediation="Use type ClusterIP behind an Ingress or Gateway with TLS, or an internal load balancer "
    "annotation with loadBalancerSourceRanges.",
)
def service_not_public(args: ResourceValidationArgs) -> Iterator[str]:
    spec = get(args.props, "spec", default={})
    kind = get(spec, "type", default="ClusterIP")
    if kind == "NodePort":
        yield "type NodePort opens the port on every node"
    if kind != "LoadBalancer":
        return
    annotations = get(args.props, "metadata", "annotations", default={})
    internal = any(str(annotations.get(key, "")).lower() in values for key, values in _INTERNAL_LB_ANNOTATIONS.items())
    ranges = strings(spec.get("loadBalancerSourceRanges"))
    if not internal and (not ranges or _admits_internet(ranges)):
        yield "type LoadBalancer is internet-facing without an internal annotation or source ranges"


@resource_rule(
    name="k8s-ingress-tls",
    description="Ingresses must terminate TLS.",
    resource_types=(INGRESS,),
    cloud="kubernetes",
    concern="tls",
    level=MANDATORY,
    severity="high",
    remediation="Add spec.tls with the host and a certificate secret (exposure.certificate).",
)
def ingress_tls(args: ResourceValidationArgs) -> Iterator[str]:
    if not items(get(args.props, "spec", "tls")):
        yield "the Ingress has no spec.tls"


@resource_rule(
    name="k8s-rbac-no-wildcards",
    description="Roles must not grant wildcard verbs, resources or API groups.",
    resource_types=(ROLE, CLUSTER_ROLE),
    cloud="kubernetes",
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    anchor="CKV_K8S_49 (CIS Kubernetes 5.1.3)",
    remediation="List the verbs and resources the workload needs explicitly.",
)
def rbac_no_wildcards(args: ResourceValidationArgs) -> Iterator[str]:
    for index, rule in enumerate(items(args.props.get("rules"))):
        for key in ("verbs", "resources", "apiGroups"):
            if "*" in strings(get(rule, key)):
                yield f"rules[{index}].{key} contains '*'"


@resource_rule(
    name="k8s-no-cluster-admin-binding",
    description="Nothing the service deploys may bind the cluster-admin role.",
    resource_types=(ROLE_BINDING, CLUSTER_ROLE_BINDING),
    cloud="kubernetes",
    concern="least-privilege",
    level=MANDATORY,
    severity="critical",
    anchor="CIS Kubernetes 5.1.1",
    remediation="Bind a Role with only the permissions the subject needs.",
)
def no_cluster_admin_binding(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "roleRef", "name") == "cluster-admin":
        yield "the binding grants cluster-admin"


# --- NetworkPolicy and Ingress: nothing reaches past the workload ----------------------------------------


def _admits_internet(ranges: list[str]) -> str | None:
    try:
        return open_to_internet(ranges)
    except ValueError:
        return f"an unreadable range ({', '.join(ranges)})"


def _ip_block_addresses(peer: Any) -> list[Any] | None:
    """The addresses an ipBlock peer admits (cidr minus except), or None for a peer that is not an ipBlock."""
    block = get(peer, "ipBlock")
    if block is None:
        return None
    try:
        cidr = to_networks([get(block, "cidr")])
        holes = to_networks(strings(get(block, "except")))
    except ValueError:
        return to_networks(["0.0.0.0/0", "::/0"])  # unreadable: judged as everything
    return subtract(cidr, holes)


def _reaches_port(rule: Any, port: int) -> bool:
    ports = items(get(rule, "ports"))
    if not ports:
        return True
    for entry in ports:
        value = get(entry, "port")
        low = number(value)
        if value is None or low is None:
            return True  # every port, or a named port that may resolve to it
        high = number(get(entry, "endPort")) or low
        if low <= port <= high:
            return True
    return False


@resource_rule(
    name="k8s-network-policy-no-metadata-egress",
    description="NetworkPolicies never allow egress to the instance metadata endpoints (169.254.169.254, "
    "fd00:ec2::254), judged on what each peer's addresses cover.",
    resource_types=(NETWORK_POLICY,),
    cloud="kubernetes",
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    anchor="CIS EKS 5.4.x (restrict access to the instance metadata service)",
    remediation="Allow only the addresses the pods need (e.g. the Pod Identity agent 169.254.170.23/32), or "
    "add 169.254.169.254/32 and fd00:ec2::254/128 to the ipBlock's except list.",
)
def network_policy_no_metadata_egress(args: ResourceValidationArgs) -> Iterator[str]:
    for index, rule in enumerate(items(get(args.props, "spec", "egress"))):
        if not _reaches_port(rule, 80):
            continue
        peers = items(get(rule, "to"))
        if not peers:
            yield f"egress[{index}] allows every destination, the instance metadata endpoints included"
            continue
        for peer in peers:
            addresses = _ip_block_addresses(peer)
            reached = covers_address(addresses, METADATA_ADDRESSES) if addresses is not None else []
            if reached:
                yield f"egress[{index}] allows {get(peer, 'ipBlock', 'cidr')}, which reaches {', '.join(reached)}"


@resource_rule(
    name="k8s-network-policy-no-internet-ingress",
    description="NetworkPolicies admit callers by namespace or narrow ranges, never from every source or "
    "from ranges that amount to the internet (judged as sets); public traffic comes through the Ingress.",
    resource_types=(NETWORK_POLICY,),
    cloud="kubernetes",
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    remediation="Admit the ingress controller's namespace and named callers; restrict ranges to the callers' "
    "own networks.",
)
def network_policy_no_internet_ingress(args: ResourceValidationArgs) -> Iterator[str]:
    for index, rule in enumerate(items(get(args.props, "spec", "ingress"))):
        peers = items(get(rule, "from"))
        if not peers:
            yield f"ingress[{index}] admits every source"
            continue
        for peer in peers:
            addresses = _ip_block_addresses(peer)
            internet = _admits_internet([str(a) for a in addresses]) if addresses else None
            if internet:
                yield f"ingress[{index}] admits {get(peer, 'ipBlock', 'cidr')}, which is {internet}"


@resource_rule(
    name="k8s-network-policy-system-namespace",
    description="No NetworkPolicy selects every pod of a system namespace (kube-system, kube-public, "
    "kube-node-lease, ingress and monitoring add-ons), where it would cut off CoreDNS or the controllers.",
    resource_types=(NETWORK_POLICY,),
    cloud="kubernetes",
    concern="availability",
    level=MANDATORY,
    severity="high",
    remediation="Deploy the model in a namespace of its own; in a shared namespace select only its own pods.",
)
def network_policy_system_namespace(args: ResourceValidationArgs) -> Iterator[str]:
    namespace = str(get(args.props, "metadata", "namespace", default="default"))
    if not system_namespace(namespace):
        args.not_applicable(f"{namespace} is not a system namespace")
    selector = get(args.props, "spec", "podSelector", default={})
    if not get(selector, "matchLabels") and not items(get(selector, "matchExpressions")):
        yield f"the policy selects every pod of the system namespace {namespace}"


def _ingress_annotations(args: ResourceValidationArgs) -> Mapping[str, Any]:
    return get(args.props, "metadata", "annotations", default={})


@resource_rule(
    name="k8s-ingress-class-required",
    description="Ingresses name their IngressClass, so the cluster's default (possibly public) controller "
    "never picks them up.",
    resource_types=(INGRESS,),
    cloud="kubernetes",
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    remediation="Set spec.ingressClassName (the target option ingress_class).",
)
def ingress_class_required(args: ResourceValidationArgs) -> Iterator[str]:
    if not get(args.props, "spec", "ingressClassName") and not _ingress_annotations(args).get(
        "kubernetes.io/ingress.class"
    ):
        yield "the Ingress names no class; the cluster's default controller would serve it"


@resource_rule(
    name="k8s-ingress-authenticated-prod",
    description="In prod, an internet-facing Ingress (AWS Load Balancer Controller scheme internet-facing) "
    "authenticates callers (auth-type oidc or cognito, unauthenticated requests never allowed through).",
    resource_types=(INGRESS,),
    cloud="kubernetes",
    concern="network-exposure",
    level=MANDATORY,
    severity="critical",
    prod_only=True,
    remediation="Add alb.ingress.kubernetes.io/auth-type (oidc or cognito) with its IdP annotation; anonymous "
    "public access (exposure.anonymous) is for non-prod stacks only.",
)
def ingress_authenticated_prod(args: ResourceValidationArgs) -> Iterator[str]:
    annotations = _ingress_annotations(args)
    if annotations.get("alb.ingress.kubernetes.io/scheme") != "internet-facing":
        args.not_applicable("the Ingress is not internet-facing")
    if annotations.get("alb.ingress.kubernetes.io/auth-type") not in ("oidc", "cognito"):
        yield "the internet-facing Ingress does not authenticate callers"
    elif annotations.get("alb.ingress.kubernetes.io/auth-on-unauthenticated-request") == "allow":
        yield "the Ingress lets unauthenticated requests through"


@resource_rule(
    name="k8s-ingress-no-snippets",
    description="Ingresses carry no configuration-snippet annotations, which inject controller configuration.",
    resource_types=(INGRESS,),
    cloud="kubernetes",
    concern="network-exposure",
    level=MANDATORY,
    severity="critical",
    anchor="CKV_K8S_153, CVE-2021-25742",
    remediation="Remove the *-snippet annotations; use the controller's allow-listed annotations instead.",
)
def ingress_no_snippets(args: ResourceValidationArgs) -> Iterator[str]:
    for key in _ingress_annotations(args):
        if "snippet" in str(key):
            yield f"annotation {key} injects controller configuration"


RULES = collect(globals())
