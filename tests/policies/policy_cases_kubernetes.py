"""Fixtures for the Kubernetes rules: the real ModelWorkload as the compliant case, patched raw objects."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s
from conftest import make_service
from modelport.kubernetes.workload import ModelWorkload, ModelWorkloadArgs
from modelport.profiles import PROFILES
from policy_cases import DELETE, IMAGE, TAGGED_IMAGE, Case, bad, good, patched

LABELS = {"app.kubernetes.io/name": "model"}


def model_workload(prefix: str, **options: Any) -> ModelWorkload:
    """The real component, hardened defaults, in its own namespace so stack joins never cross cases."""
    service = make_service(
        scaling={"min_replicas": 3, "max_replicas": 12},
        exposure={
            "domain": "churn.ml.example.com",
            "certificate": "churn-tls",
            "allowed_principals": ["namespace/checkout"],
        },
    )
    args = ModelWorkloadArgs(
        service=service, profile=PROFILES["prod"], namespace=prefix, ingress_class="nginx", **options
    )
    return ModelWorkload(prefix, args)


def container(**patch: Any) -> dict[str, Any]:
    base = {
        "name": "model",
        "image": IMAGE,
        "ports": [{"containerPort": 8080}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": 8080}},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": 8080}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return patched(base, patch)


def pod_spec(prefix: str, pod: dict[str, Any] | None = None, **container_patch: Any) -> dict[str, Any]:
    base = {
        "serviceAccountName": f"{prefix}-sa",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": LABELS},
            }
        ],
        "containers": [container(**container_patch)],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
    }
    return patched(base, pod or {})


def metadata(prefix: str, **patch: Any) -> dict[str, Any]:
    return patched({"name": prefix, "namespace": prefix, "labels": LABELS}, patch)


def deployment(
    prefix: str,
    pod: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    **container_patch: Any,
) -> k8s.apps.v1.Deployment:
    base_spec = {
        "replicas": 3,
        "selector": {"matchLabels": LABELS},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {"metadata": {"labels": LABELS}, "spec": pod_spec(prefix, pod, **container_patch)},
    }
    return k8s.apps.v1.Deployment(
        prefix, metadata=metadata(prefix, **(meta or {})), spec=patched(base_spec, spec or {})
    )


def stateful_set(prefix: str, pod: dict[str, Any] | None = None, **container_patch: Any) -> k8s.apps.v1.StatefulSet:
    return k8s.apps.v1.StatefulSet(
        prefix,
        metadata=metadata(prefix),
        spec={
            "replicas": 3,
            "serviceName": prefix,
            "selector": {"matchLabels": LABELS},
            "template": {"metadata": {"labels": LABELS}, "spec": pod_spec(prefix, pod, **container_patch)},
        },
    )


def cron_job(prefix: str, pod: dict[str, Any] | None = None, **container_patch: Any) -> k8s.batch.v1.CronJob:
    template = {
        "metadata": {"labels": LABELS},
        "spec": patched(pod_spec(prefix, pod, **container_patch), {"restartPolicy": "OnFailure"}),
    }
    return k8s.batch.v1.CronJob(
        prefix,
        metadata=metadata(prefix),
        spec={"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}},
    )


def pod(prefix: str, pod_patch: dict[str, Any] | None = None, **container_patch: Any) -> k8s.core.v1.Pod:
    return k8s.core.v1.Pod(prefix, metadata=metadata(prefix), spec=pod_spec(prefix, pod_patch, **container_patch))


def hpa(prefix: str, **spec_patch: Any) -> k8s.autoscaling.v2.HorizontalPodAutoscaler:
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": prefix},
        "minReplicas": 3,
        "maxReplicas": 12,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}},
            }
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
    }
    return k8s.autoscaling.v2.HorizontalPodAutoscaler(
        f"{prefix}-hpa", metadata=metadata(f"{prefix}-hpa", namespace=prefix), spec=patched(spec, spec_patch)
    )


def pdb(prefix: str, **spec_patch: Any) -> k8s.policy.v1.PodDisruptionBudget:
    spec = patched({"maxUnavailable": 1, "selector": {"matchLabels": LABELS}}, spec_patch)
    return k8s.policy.v1.PodDisruptionBudget(
        f"{prefix}-pdb", metadata=metadata(f"{prefix}-pdb", namespace=prefix), spec=spec
    )


def network_policy(prefix: str, types: list[str], **spec_patch: Any) -> k8s.networking.v1.NetworkPolicy:
    spec = patched({"podSelector": {}, "policyTypes": types}, spec_patch)
    return k8s.networking.v1.NetworkPolicy(
        f"{prefix}-deny", metadata=metadata(f"{prefix}-deny", namespace=prefix), spec=spec
    )


def service(prefix: str, annotations: dict[str, str] | None = None, **spec_patch: Any) -> k8s.core.v1.Service:
    spec = patched({"type": "ClusterIP", "selector": LABELS, "ports": [{"port": 80, "targetPort": 8080}]}, spec_patch)
    return k8s.core.v1.Service(prefix, metadata=metadata(prefix, annotations=annotations or {}), spec=spec)


def role(prefix: str, rules: list[dict[str, Any]], cluster: bool = False) -> Any:
    if cluster:
        return k8s.rbac.v1.ClusterRole(prefix, metadata={"name": prefix}, rules=rules)
    return k8s.rbac.v1.Role(prefix, metadata=metadata(prefix), rules=rules)


def binding(prefix: str, role_name: str, cluster: bool = True) -> Any:
    subject = [{"kind": "ServiceAccount", "name": f"{prefix}-sa", "namespace": prefix}]
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name}
    if cluster:
        return k8s.rbac.v1.ClusterRoleBinding(prefix, metadata={"name": prefix}, role_ref=ref, subjects=subject)
    return k8s.rbac.v1.RoleBinding(prefix, metadata=metadata(prefix), role_ref=ref, subjects=subject)


READ_PODS = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]


def serving_stack(
    prefix: str,
    *,
    with_hpa: bool = True,
    with_pdb: bool = True,
    deny: tuple[str, ...] = ("Ingress", "Egress"),
    **pdb_patch: Any,
) -> None:
    deployment(prefix)
    if with_hpa:
        hpa(prefix)
    if with_pdb:
        pdb(prefix, **pdb_patch)
    if deny:
        network_policy(prefix, list(deny))


def canary_tracks(prefix: str) -> None:
    """Two tracks of one service, as ModelWorkload builds a 90/10 canary: 2 stable replicas and 1 canary."""
    for track, minimum in (("stable", 2), ("canary", 1)):
        name = f"{prefix}-{track}"
        labels = {**LABELS, "modelport.dev/track": track}
        deployment(
            name,
            meta={"namespace": prefix},
            spec={
                "selector": {"matchLabels": labels},
                "replicas": minimum,
                "template": {"metadata": {"labels": labels}},
            },
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=metadata(f"{name}-hpa", namespace=prefix),
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": minimum,
                "maxReplicas": 6,
            },
        )


def netpol(
    prefix: str,
    *,
    namespace: str | None = None,
    selector: dict[str, Any] | None = None,
    ingress: list[Any] | None = None,
    egress: list[Any] | None = None,
) -> k8s.networking.v1.NetworkPolicy:
    spec: dict[str, Any] = {"podSelector": {"matchLabels": LABELS} if selector is None else selector}
    types = []
    if ingress is not None:
        spec["ingress"], types = ingress, [*types, "Ingress"]
    if egress is not None:
        spec["egress"], types = egress, [*types, "Egress"]
    spec["policyTypes"] = types or ["Ingress"]
    return k8s.networking.v1.NetworkPolicy(prefix, metadata=metadata(prefix, namespace=namespace or prefix), spec=spec)


def ingress(
    prefix: str, *, class_name: str | None = "nginx", annotations: dict[str, str] | None = None
) -> k8s.networking.v1.Ingress:
    spec: dict[str, Any] = {
        "tls": [{"hosts": ["churn.example.com"], "secretName": "churn-tls"}],
        "rules": [
            {
                "host": "churn.example.com",
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": prefix, "port": {"number": 80}}},
                        }
                    ]
                },
            }
        ],
    }
    if class_name:
        spec["ingressClassName"] = class_name
    return k8s.networking.v1.Ingress(prefix, metadata=metadata(prefix, annotations=annotations or {}), spec=spec)


CASES: list[Case] = [
    # The real component is the compliant fixture of every rule whose resources it creates.
    *[
        good(rule, model_workload, "ModelWorkload")
        for rule in (
            "k8s-pss-host-process",
            "k8s-pss-host-namespaces",
            "k8s-pss-privileged",
            "k8s-pss-capabilities-add",
            "k8s-pss-host-path",
            "k8s-pss-host-ports",
            "k8s-pss-apparmor",
            "k8s-pss-selinux",
            "k8s-pss-proc-mount",
            "k8s-pss-sysctls",
            "k8s-pss-volume-types",
            "k8s-pss-privilege-escalation",
            "k8s-pss-run-as-non-root",
            "k8s-pss-run-as-user",
            "k8s-pss-seccomp",
            "k8s-pss-capabilities-drop-all",
            "k8s-read-only-root-filesystem",
            "k8s-resource-limits",
            "k8s-resource-requests",
            "k8s-readiness-probe",
            "k8s-liveness-probe",
            "k8s-image-digest",
            "k8s-no-secret-env-values",
            "k8s-no-default-service-account",
            "k8s-service-account-token-automount",
            "k8s-no-default-namespace",
            "k8s-namespace-pss-restricted",
            "k8s-topology-spread",
            "k8s-rolling-update-surge",
            "k8s-min-replicas-prod",
            "k8s-pdb-allows-eviction",
            "k8s-hpa-scale-down-stabilization",
            "k8s-service-not-public",
            "k8s-ingress-tls",
            "autoscaler-kubernetes",
            "k8s-pdb-required",
            "k8s-network-policy-default-deny-ingress",
            "k8s-network-policy-default-deny-egress",
            "k8s-network-policy-no-metadata-egress",
            "k8s-network-policy-no-internet-ingress",
            "k8s-ingress-class-required",
            "k8s-ingress-no-snippets",
        )
    ],
    good(
        "k8s-network-policy-default-deny-ingress",
        lambda p: model_workload(p, create_namespace=False),
        "shared namespace, policies select the workload",
    ),
    good(
        "k8s-network-policy-no-metadata-egress",
        lambda p: model_workload(p, identity_egress=[{"cidr": "169.254.170.23/32", "port": 80}]),
        "Pod Identity agent only",
    ),
    bad(
        "k8s-network-policy-no-metadata-egress",
        lambda p: netpol(p, egress=[{"to": [{"ipBlock": {"cidr": "169.254.0.0/16"}}]}]),
        "link-local range",
    ),
    bad(
        "k8s-network-policy-no-metadata-egress",
        lambda p: netpol(
            p, egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}], "ports": [{"port": 80}]}]
        ),
        "internet with a useless except",
    ),
    bad(
        "k8s-network-policy-no-metadata-egress",
        lambda p: netpol(p, egress=[{"to": [{"ipBlock": {"cidr": "fd00:ec2::/32"}}]}]),
        "IPv6 metadata",
    ),
    bad("k8s-network-policy-no-metadata-egress", lambda p: netpol(p, egress=[{}]), "every destination"),
    good(
        "k8s-network-policy-no-metadata-egress",
        lambda p: netpol(
            p,
            egress=[
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}]},
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]},
            ],
        ),
        "metadata excepted, or HTTPS only",
    ),
    bad(
        "k8s-network-policy-no-internet-ingress",
        lambda p: netpol(
            p, ingress=[{"from": [{"ipBlock": {"cidr": "0.0.0.0/1"}}, {"ipBlock": {"cidr": "128.0.0.0/1"}}]}]
        ),
        "two halves",
    ),
    bad(
        "k8s-network-policy-no-internet-ingress",
        lambda p: netpol(p, ingress=[{"from": [{"ipBlock": {"cidr": "::/0"}}]}]),
        "IPv6 everything",
    ),
    bad("k8s-network-policy-no-internet-ingress", lambda p: netpol(p, ingress=[{}]), "every source"),
    good(
        "k8s-network-policy-no-internet-ingress",
        lambda p: netpol(p, ingress=[{"from": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}]),
        "VPC range",
    ),
    bad(
        "k8s-network-policy-system-namespace",
        lambda p: netpol(p, namespace="kube-system", selector={}),
        "deny-all over kube-system",
    ),
    bad(
        "k8s-network-policy-system-namespace",
        lambda p: netpol(p, namespace="ingress-nginx", selector={}),
        "deny-all over the ingress controller",
    ),
    good(
        "k8s-network-policy-system-namespace",
        lambda p: netpol(p, namespace="kube-system", selector={"matchLabels": LABELS}),
        "selects only its own pods",
    ),
    bad("k8s-ingress-class-required", lambda p: ingress(p, class_name=None), "no class"),
    good(
        "k8s-ingress-class-required",
        lambda p: ingress(p, class_name=None, annotations={"kubernetes.io/ingress.class": "nginx"}),
        "legacy class annotation",
    ),
    bad(
        "k8s-ingress-authenticated-prod",
        lambda p: ingress(p, class_name="alb", annotations={"alb.ingress.kubernetes.io/scheme": "internet-facing"}),
        "anonymous internet-facing ALB Ingress",
    ),
    bad(
        "k8s-ingress-authenticated-prod",
        lambda p: ingress(
            p,
            class_name="alb",
            annotations={
                "alb.ingress.kubernetes.io/scheme": "internet-facing",
                "alb.ingress.kubernetes.io/auth-type": "oidc",
                "alb.ingress.kubernetes.io/auth-on-unauthenticated-request": "allow",
            },
        ),
        "authentication optional",
    ),
    good(
        "k8s-ingress-authenticated-prod",
        lambda p: ingress(
            p,
            class_name="alb",
            annotations={
                "alb.ingress.kubernetes.io/scheme": "internet-facing",
                "alb.ingress.kubernetes.io/auth-type": "cognito",
            },
        ),
        "Cognito",
    ),
    bad(
        "k8s-ingress-no-snippets",
        lambda p: ingress(p, annotations={"nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers x;"}),
        "configuration snippet",
    ),
    bad(
        "k8s-ingress-no-snippets",
        lambda p: ingress(p, annotations={"nginx.ingress.kubernetes.io/server-snippet": "location / {}"}),
        "server snippet",
    ),
    bad(
        "k8s-pss-host-process",
        lambda p: deployment(
            p, pod={"securityContext": {"windowsOptions": {"hostProcess": True}}, "hostNetwork": True}
        ),
        "hostProcess pod",
    ),
    bad("k8s-pss-host-namespaces", lambda p: deployment(p, pod={"hostPID": True}), "hostPID"),
    bad("k8s-pss-host-namespaces", lambda p: cron_job(p, pod={"hostNetwork": True}), "CronJob hostNetwork"),
    bad("k8s-pss-privileged", lambda p: deployment(p, securityContext={"privileged": True}), "privileged"),
    good("k8s-pss-privileged", lambda p: pod(p), "bare Pod"),
    bad(
        "k8s-pss-capabilities-add",
        lambda p: deployment(p, securityContext={"capabilities": {"add": ["SYS_ADMIN"]}}),
        "adds SYS_ADMIN",
    ),
    good(
        "k8s-pss-capabilities-add",
        lambda p: deployment(p, securityContext={"capabilities": {"add": ["NET_BIND_SERVICE"]}}),
        "NET_BIND_SERVICE",
    ),
    bad(
        "k8s-pss-host-path",
        lambda p: deployment(p, pod={"volumes": [{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]}),
        "docker socket",
    ),
    bad("k8s-pss-host-ports", lambda p: deployment(p, ports=[{"containerPort": 8080, "hostPort": 8080}]), "hostPort"),
    bad(
        "k8s-pss-apparmor",
        lambda p: deployment(p, securityContext={"appArmorProfile": {"type": "Unconfined"}}),
        "Unconfined",
    ),
    bad(
        "k8s-pss-apparmor",
        lambda p: deployment(p, pod={"securityContext": {"appArmorProfile": {"type": "Unconfined"}}}),
        "pod Unconfined",
    ),
    good(
        "k8s-pss-apparmor",
        lambda p: deployment(p, securityContext={"appArmorProfile": {"type": "RuntimeDefault"}}),
        "RuntimeDefault",
    ),
    bad("k8s-pss-selinux", lambda p: deployment(p, securityContext={"seLinuxOptions": {"type": "spc_t"}}), "spc_t"),
    bad(
        "k8s-pss-selinux",
        lambda p: deployment(p, pod={"securityContext": {"seLinuxOptions": {"user": "system_u"}}}),
        "custom user",
    ),
    good(
        "k8s-pss-selinux",
        lambda p: deployment(p, securityContext={"seLinuxOptions": {"type": "container_t", "level": "s0:c1"}}),
        "container_t",
    ),
    bad("k8s-pss-proc-mount", lambda p: deployment(p, securityContext={"procMount": "Unmasked"}), "Unmasked"),
    bad(
        "k8s-pss-sysctls",
        lambda p: deployment(p, pod={"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "65536"}]}}),
        "kernel.msgmax",
    ),
    good(
        "k8s-pss-sysctls",
        lambda p: deployment(
            p, pod={"securityContext": {"sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"}]}}
        ),
        "safe sysctl",
    ),
    bad(
        "k8s-pss-volume-types",
        lambda p: deployment(p, pod={"volumes": [{"name": "nfs", "nfs": {"server": "10.0.0.1", "path": "/models"}}]}),
        "nfs volume",
    ),
    bad(
        "k8s-pss-privilege-escalation",
        lambda p: deployment(p, securityContext={"allowPrivilegeEscalation": DELETE}),
        "unset",
    ),
    bad(
        "k8s-pss-privilege-escalation",
        lambda p: stateful_set(p, securityContext={"allowPrivilegeEscalation": True}),
        "StatefulSet true",
    ),
    bad(
        "k8s-pss-run-as-non-root",
        lambda p: deployment(
            p, pod={"securityContext": {"runAsNonRoot": DELETE}}, securityContext={"runAsNonRoot": DELETE}
        ),
        "unset",
    ),
    bad("k8s-pss-run-as-non-root", lambda p: deployment(p, securityContext={"runAsNonRoot": False}), "false"),
    bad("k8s-pss-run-as-user", lambda p: deployment(p, securityContext={"runAsUser": 0}), "uid 0"),
    bad("k8s-pss-seccomp", lambda p: deployment(p, pod={"securityContext": {"seccompProfile": DELETE}}), "unset"),
    bad(
        "k8s-pss-seccomp",
        lambda p: deployment(p, securityContext={"seccompProfile": {"type": "Unconfined"}}),
        "Unconfined",
    ),
    bad(
        "k8s-pss-capabilities-drop-all",
        lambda p: deployment(p, securityContext={"capabilities": {"drop": ["NET_RAW"]}}),
        "drops NET_RAW only",
    ),
    bad("k8s-pss-capabilities-drop-all", lambda p: pod(p, securityContext={"capabilities": DELETE}), "Pod drops none"),
    bad(
        "k8s-read-only-root-filesystem",
        lambda p: deployment(p, securityContext={"readOnlyRootFilesystem": False}),
        "writable root",
    ),
    bad("k8s-resource-limits", lambda p: deployment(p, resources={"limits": DELETE}), "no limits"),
    bad("k8s-resource-limits", lambda p: deployment(p, resources={"limits": {"cpu": DELETE}}), "no cpu limit"),
    bad("k8s-resource-requests", lambda p: deployment(p, resources={"requests": DELETE}), "no requests"),
    bad("k8s-readiness-probe", lambda p: deployment(p, readinessProbe=DELETE), "no readiness"),
    bad("k8s-liveness-probe", lambda p: deployment(p, livenessProbe=DELETE), "no liveness"),
    bad("k8s-image-digest", lambda p: deployment(p, image=TAGGED_IMAGE), "tag"),
    bad("k8s-image-digest", lambda p: cron_job(p, image="python:3.11"), "CronJob short name"),
    bad(
        "k8s-no-secret-env-values",
        lambda p: deployment(p, env=[{"name": "DB_PASSWORD", "value": "hunter2hunter2"}]),
        "literal password",
    ),
    good(
        "k8s-no-secret-env-values",
        lambda p: deployment(
            p,
            env=[
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                {"name": "LOG_LEVEL", "value": "info"},
            ],
        ),
        "secretKeyRef",
    ),
    bad("k8s-no-default-service-account", lambda p: deployment(p, pod={"serviceAccountName": DELETE}), "unset"),
    bad("k8s-no-default-service-account", lambda p: deployment(p, pod={"serviceAccountName": "default"}), "default"),
    bad(
        "k8s-service-account-token-automount",
        lambda p: k8s.core.v1.ServiceAccount(p, metadata=metadata(p)),
        "ServiceAccount default",
    ),
    bad(
        "k8s-service-account-token-automount",
        lambda p: deployment(p, pod={"automountServiceAccountToken": True}),
        "pod mounts token",
    ),
    bad("k8s-no-default-namespace", lambda p: deployment(p, meta={"namespace": "default"}), "default namespace"),
    bad(
        "k8s-no-default-namespace",
        lambda p: k8s.core.v1.Service(p, spec={"selector": LABELS, "ports": [{"port": 80}]}),
        "namespace unset",
    ),
    bad(
        "k8s-namespace-pss-restricted",
        lambda p: k8s.core.v1.Namespace(
            p, metadata={"name": p, "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}
        ),
        "baseline",
    ),
    bad("k8s-namespace-pss-restricted", lambda p: k8s.core.v1.Namespace(p, metadata={"name": p}), "unlabelled"),
    bad("k8s-topology-spread", lambda p: deployment(p, pod={"topologySpreadConstraints": DELETE}), "no spread"),
    bad(
        "k8s-topology-spread",
        lambda p: model_workload(f"{p}-soft", zone_spread="ScheduleAnyway"),
        "ModelWorkload with a preferred zone spread in prod",
    ),
    bad("k8s-rolling-update-surge", lambda p: deployment(p, spec={"strategy": DELETE}), "default strategy"),
    bad(
        "k8s-rolling-update-surge",
        lambda p: deployment(p, spec={"strategy": {"type": "Recreate", "rollingUpdate": DELETE}}),
        "Recreate",
    ),
    bad("k8s-min-replicas-prod", lambda p: (deployment(p), hpa(p, minReplicas=1)), "HPA min 1"),
    bad("k8s-min-replicas-prod", lambda p: deployment(p, spec={"replicas": 1}), "replicas 1, no HPA"),
    bad("k8s-min-replicas-prod", lambda p: deployment(p, spec={"replicas": DELETE}), "replicas unset, no HPA"),
    good("k8s-min-replicas-prod", canary_tracks, "stable 2 + canary 1"),
    bad("k8s-pdb-allows-eviction", lambda p: pdb(p, maxUnavailable=0), "maxUnavailable 0"),
    bad("k8s-pdb-allows-eviction", lambda p: pdb(p, maxUnavailable=DELETE, minAvailable="100%"), "minAvailable 100%"),
    bad(
        "k8s-hpa-scale-down-stabilization",
        lambda p: hpa(p, behavior={"scaleDown": {"stabilizationWindowSeconds": 0}}),
        "no stabilization",
    ),
    bad("k8s-service-not-public", lambda p: service(p, type="LoadBalancer"), "public LoadBalancer"),
    bad("k8s-service-not-public", lambda p: service(p, type="NodePort"), "NodePort"),
    good(
        "k8s-service-not-public",
        lambda p: service(p, {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}, type="LoadBalancer"),
        "internal NLB",
    ),
    bad(
        "k8s-ingress-tls",
        lambda p: k8s.networking.v1.Ingress(
            p,
            metadata=metadata(p),
            spec={
                "rules": [
                    {
                        "host": "churn.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": p, "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ]
            },
        ),
        "no tls",
    ),
    bad(
        "k8s-rbac-no-wildcards",
        lambda p: role(p, [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}]),
        "resources *",
    ),
    bad(
        "k8s-rbac-no-wildcards",
        lambda p: role(p, [{"apiGroups": ["*"], "resources": ["pods"], "verbs": ["*"]}], cluster=True),
        "ClusterRole verbs *",
    ),
    good("k8s-rbac-no-wildcards", lambda p: role(p, READ_PODS), "explicit verbs"),
    bad("k8s-no-cluster-admin-binding", lambda p: binding(p, "cluster-admin"), "ClusterRoleBinding"),
    bad("k8s-no-cluster-admin-binding", lambda p: binding(p, "cluster-admin", cluster=False), "RoleBinding"),
    good("k8s-no-cluster-admin-binding", lambda p: binding(p, "view", cluster=False), "view"),
    # stack joins, each case in its own namespace
    bad("autoscaler-kubernetes", lambda p: serving_stack(p, with_hpa=False), "no HPA"),
    bad(
        "autoscaler-kubernetes", lambda p: (deployment(p), hpa(p, scaleTargetRef={"name": "other"})), "HPA for another"
    ),
    good("autoscaler-kubernetes", lambda p: serving_stack(p), "Deployment + HPA"),
    bad("k8s-pdb-required", lambda p: serving_stack(p, with_pdb=False), "no PDB"),
    bad(
        "k8s-pdb-required", lambda p: serving_stack(p, selector={"matchLabels": {"app": "other"}}), "PDB selects others"
    ),
    good("k8s-pdb-required", lambda p: serving_stack(p), "PDB selects pods"),
    bad("k8s-network-policy-default-deny-ingress", lambda p: serving_stack(p, deny=()), "no policy"),
    bad(
        "k8s-network-policy-default-deny-ingress",
        lambda p: (
            serving_stack(p, deny=()),
            network_policy(p, ["Ingress"], ingress=[{"from": [{"namespaceSelector": {}}]}]),
        ),
        "allows all namespaces",
    ),
    good("k8s-network-policy-default-deny-ingress", lambda p: serving_stack(p, deny=("Ingress",)), "deny ingress"),
    bad("k8s-network-policy-default-deny-egress", lambda p: serving_stack(p, deny=("Ingress",)), "ingress only"),
    good("k8s-network-policy-default-deny-egress", lambda p: serving_stack(p), "deny both"),
]
