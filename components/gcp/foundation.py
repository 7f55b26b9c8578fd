"""Foundation (`modelport:gcp:Foundation`): the network, key, registry, bucket and identity a pattern runs on.

Each piece is default / bring-your-own / skip: a VPC with a private-Google-access subnet, flow logs, Cloud Router
and NAT, and a firewall that admits only Google's health-check and proxy ranges; a key ring and a key rotating
every 90 days, granted to exactly the service agents that use it; an Artifact Registry repository (CMEK,
immutable tags); a GCS bucket (CMEK, uniform access, public access prevention, versioning); a dedicated service
account with grants on the resources it reads, never on the project except the log and metric writer roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_gcp as gcp

from ..spec import ModelService
from .checks import artifact_registry_image, gcs_artifact, secret_parts, service_images
from .iam import sa_member, service_agent
from .naming import account_id, stack_unique_name
from .options import HEALTH_CHECK_RANGES, GcpArgs

__all__ = ["Foundation", "FoundationArgs"]

ROTATION_PERIOD = "7776000s"  # 90 days


@dataclass(frozen=True, kw_only=True)
class FoundationArgs(GcpArgs):
    """The shared options plus what the pattern needs: which service agents encrypt with the key, whether it
    needs a network, and the project roles its identity needs (log and metric writers for VMs and nodes)."""

    # Not a serving target: whether gRPC is carried is the pattern's decision, not the foundation's.
    GRPC_REFUSAL: ClassVar[str | None] = None
    key_agents: tuple[str, ...] = ()
    needs_network: bool = True
    project_roles: tuple[str, ...] = ()
    health_checked: bool = False
    pattern: str = "the pattern"

    @classmethod
    def for_pattern(cls, args: GcpArgs, **needs: Any) -> FoundationArgs:
        return cls(service=args.service, **args.foundation_options(), **needs)


class Foundation(pulumi.ComponentResource):
    """Network, key, registry, bucket, identity and grants for one workload in one region."""

    network_id: pulumi.Output[str] | None
    subnetwork_id: pulumi.Output[str] | None
    key_id: pulumi.Output[str] | None
    service_account_email: pulumi.Output[str]

    def __init__(self, name: str, args: FoundationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelport:gcp:Foundation", name, None, opts)
        self.args = args
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        project = gcp.organizations.get_project_output(
            project_id=args.project, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        self.project_number: pulumi.Output[str] = project.number
        self._identity(child)
        self._network(child)
        self._key(child)
        self._repository(child)
        self._bucket(child)
        self._grants(child)
        self.register_outputs(
            {
                "network_id": self.network_id,
                "subnetwork_id": self.subnetwork_id,
                "key_id": self.key_id,
                "repository_id": self.repository_id,
                "bucket_name": self.bucket_name,
                "service_account_email": self.service_account_email,
            }
        )

    # --- identity ---

    def _identity(self, child: pulumi.ResourceOptions) -> None:
        args = self.args
        if args.service_account is not None:
            self.service_account = None
            self.email = args.service_account
            self.service_account_email = pulumi.Output.from_input(args.service_account)
        else:
            identity = account_id(self._name.removesuffix("-foundation"))
            # The email of a created account is known before it exists: <id>@<project>.iam.gserviceaccount.com.
            self.email = f"{identity}@{args.project}.iam.gserviceaccount.com"
            self.service_account = gcp.serviceaccount.Account(
                f"{self._name}-identity",
                project=args.project,
                account_id=identity,
                display_name=f"modelport {args.service.name} ({args.pattern})",
                description=f"Runs {args.service.name}: reads its image, artifacts and secrets; nothing else",
                opts=child,
            )
            self.service_account_email = self.service_account.email
        self.member = sa_member(self.service_account_email)

    # --- network ---

    def _network(self, child: pulumi.ResourceOptions) -> None:
        args = self.args
        self.network = self.subnet = self.router = self.nat = self.health_check_firewall = None
        if not args.needs_network:
            self.network_id = self.subnetwork_id = None
            return
        if args.network is not None:
            self.network_id = pulumi.Output.from_input(args.network)
            self.subnetwork_id = pulumi.Output.from_input(args.subnetwork)
        else:
            self.network = gcp.compute.Network(
                f"{self._name}-vpc",
                project=args.project,
                name=stack_unique_name(self._name.removesuffix("-foundation"), 63),
                auto_create_subnetworks=False,
                routing_mode="REGIONAL",
                delete_default_routes_on_create=False,
                opts=child,
            )
            subnet: dict[str, Any] = {}
            if args.flow_logs:
                subnet["log_config"] = {
                    "aggregation_interval": "INTERVAL_5_SEC",
                    "flow_sampling": 0.5,
                    "metadata": "INCLUDE_ALL_METADATA",
                }
            self.subnet = gcp.compute.Subnetwork(
                f"{self._name}-subnet",
                project=args.project,
                region=args.region,
                network=self.network.id,
                ip_cidr_range=args.subnet_cidr,
                private_ip_google_access=True,
                stack_type="IPV4_ONLY",
                **subnet,
                opts=child,
            )
            self.router = gcp.compute.Router(
                f"{self._name}-router", project=args.project, region=args.region, network=self.network.id, opts=child
            )
            self.nat = gcp.compute.RouterNat(
                f"{self._name}-nat",
                project=args.project,
                region=args.region,
                router=self.router.name,
                nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
                subnetworks=[{"name": self.subnet.id, "source_ip_ranges_to_nats": ["ALL_IP_RANGES"]}],
                log_config={"enable": True, "filter": "ERRORS_ONLY"},
                opts=child,
            )
            self.network_id = self.network.id
            self.subnetwork_id = self.subnet.id
        if not args.health_checked:
            return
        self.health_check_firewall = gcp.compute.Firewall(
            f"{self._name}-allow-health-checks",
            project=args.project,
            network=self.network_id,
            direction="INGRESS",
            priority=1000,
            source_ranges=list(HEALTH_CHECK_RANGES),
            target_service_accounts=[self.service_account_email],
            allows=[{"protocol": "tcp", "ports": [str(args.service.port)]}],
            description="Google health checkers and front-end proxies to the model server port only",
            log_config={"metadata": "INCLUDE_ALL_METADATA"},
            opts=child,
        )

    # --- key ---

    def _key(self, child: pulumi.ResourceOptions) -> None:
        args = self.args
        self.key_ring = self.key = None
        self.key_grants: dict[str, gcp.kms.CryptoKeyIAMMember] = {}
        if not args.customer_managed_key:
            self.key_id = None
            return
        if args.kms_key is not None:
            self.key_id = pulumi.Output.from_input(args.kms_key)
        else:
            self.key_ring = gcp.kms.KeyRing(
                f"{self._name}-keyring",
                project=args.project,
                location=args.region,
                # Key rings can never be deleted: a stack-unique name lets a new stack start clean.
                name=stack_unique_name(self._name.removesuffix("-foundation"), 63),
                opts=child,
            )
            self.key = gcp.kms.CryptoKey(
                f"{self._name}-key",
                name="model",
                key_ring=self.key_ring.id,
                purpose="ENCRYPT_DECRYPT",
                rotation_period=ROTATION_PERIOD,
                version_template={"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION", "protection_level": "SOFTWARE"},
                labels=args.resource_labels,
                opts=pulumi.ResourceOptions(parent=self, protect=args.profile.deletion_protection),
            )
            self.key_id = self.key.id
        for api in args.key_agents:
            self.key_grants[api] = gcp.kms.CryptoKeyIAMMember(
                f"{self._name}-key-{api}-agent",
                crypto_key_id=self.key_id,
                role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                member=service_agent(self.project_number, api),
                opts=child,
            )

    def key_grant_dependencies(self, *apis: str) -> list[pulumi.Resource]:
        """The key grants a resource encrypted by these service agents must wait for."""
        return [self.key_grants[a] for a in apis if a in self.key_grants]

    # --- registry and bucket ---

    def _repository(self, child: pulumi.ResourceOptions) -> None:
        args = self.args
        self.repository = None
        if args.repository is not None:
            self.repository_id = pulumi.Output.from_input(args.repository)
            return
        if not args.create_repository:
            self.repository_id = None
            return
        extra: dict[str, Any] = {"kms_key_name": self.key_id} if self.key_id is not None else {}
        self.repository = gcp.artifactregistry.Repository(
            f"{self._name}-registry",
            project=args.project,
            location=args.region,
            repository_id=stack_unique_name(self._name.removesuffix("-foundation"), 63),
            format="DOCKER",
            description=f"Serving images of {args.service.name}",
            docker_config={"immutable_tags": True},
            labels=args.resource_labels,
            **extra,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.key_grant_dependencies("artifactregistry")),
        )
        self.repository_id = self.repository.id

    def _bucket(self, child: pulumi.ResourceOptions) -> None:
        args = self.args
        self.bucket = None
        if args.artifact_bucket is not None:
            self.bucket_name = pulumi.Output.from_input(args.artifact_bucket)
            return
        if not args.create_artifact_bucket:
            self.bucket_name = None
            return
        extra: dict[str, Any] = {"encryption": {"default_kms_key_name": self.key_id}} if self.key_id is not None else {}
        self.bucket = gcp.storage.Bucket(
            f"{self._name}-artifacts",
            project=args.project,
            name=stack_unique_name(f"{args.project}-{self._name.removesuffix('-foundation')}", 63),
            location=args.region.upper(),
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning={"enabled": True},
            force_destroy=not args.profile.deletion_protection,
            labels=args.resource_labels,
            **extra,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.key_grant_dependencies("storage")),
        )
        self.bucket_name = self.bucket.name

    # --- grants of the workload identity: on resources, not the project ---

    def registry_readers(
        self, member: pulumi.Input[str], prefix: str, child: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        """``roles/artifactregistry.reader`` for ``member`` on the created repository and on each Artifact
        Registry repository the service's images come from."""
        repositories: dict[str, pulumi.Input[str]] = {}
        if self.repository_id is not None:
            repositories["own"] = self.repository_id
        for key, image in service_images(self.args.service):
            ref = artifact_registry_image(key, image)
            if ref is not None:
                repositories.setdefault(ref.repository_id, ref.repository_id)
        grants: list[pulumi.Resource] = []
        images = 0
        for label, repository in repositories.items():
            if label == "own":
                suffix = "registry"
            else:
                suffix, images = f"image-registry-{images}", images + 1
            parts = pulumi.Output.from_input(repository).apply(_repository_parts)
            grants.append(
                gcp.artifactregistry.RepositoryIamMember(
                    f"{prefix}-{suffix}-reader",
                    project=parts.apply(lambda p: p[0]),
                    location=parts.apply(lambda p: p[1]),
                    repository=parts.apply(lambda p: p[2]),
                    role="roles/artifactregistry.reader",
                    member=member,
                    opts=child,
                )
            )
        return grants

    def _grants(self, child: pulumi.ResourceOptions) -> None:
        args = self.args
        service: ModelService = args.service
        self.grants: list[pulumi.Resource] = []
        self.grants += self.registry_readers(self.member, self._name, child)
        buckets: list[tuple[str, pulumi.Input[str]]] = []
        if self.bucket_name is not None:
            buckets.append(("artifacts", self.bucket_name))
        artifact = gcs_artifact(service, args.pattern) if service.model and service.model.artifact_uri else None
        if artifact is not None and artifact.bucket != args.artifact_bucket:
            buckets.append(("model-artifact", artifact.bucket))
        for label, bucket in buckets:
            self.grants.append(
                gcp.storage.BucketIAMMember(
                    f"{self._name}-{label}-reader",
                    bucket=bucket,
                    role="roles/storage.objectViewer",
                    member=self.member,
                    opts=child,
                )
            )
        for env_name, ref in sorted(service.secrets.items()):
            project, secret, _ = secret_parts(ref.reference)
            self.grants.append(
                gcp.secretmanager.SecretIamMember(
                    f"{self._name}-secret-{env_name.lower().replace('_', '-')}",
                    project=project,
                    secret_id=secret,
                    role="roles/secretmanager.secretAccessor",
                    member=self.member,
                    opts=child,
                )
            )
        # Logging and monitoring writers exist only at project level; they are predefined, write-only roles.
        for role in args.project_roles:
            self.grants.append(
                gcp.projects.IAMMember(
                    f"{self._name}-{role.split('/')[-1].replace('.', '-').lower()}",
                    project=args.project,
                    role=role,
                    member=self.member,
                    opts=child,
                )
            )


def _repository_parts(repository_id: str) -> tuple[str, str, str]:
    """(project, location, repository) of ``projects/<p>/locations/<l>/repositories/<r>``."""
    parts = repository_id.split("/")
    return parts[1], parts[3], parts[5]
