"""The per-region AWS foundation: VPC and endpoints, a customer-managed KMS key, ECR, the artifact bucket, logs.

Every piece is default / bring-your-own / skip (see ``AwsArgs``). Each pattern creates one as a child; to share
one per region across several patterns, create a ``Foundation`` in code and pass it as ``foundation=``.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_aws as aws

from ..base import merge_options
from ..invokes import required
from ..validation import SpecError, check_bool, check_str_list
from .iam import AwsContext, policy_document, role_with_policy, service_trust, statement
from .naming import physical_name, stack_unique_name
from .options import AwsArgs
from .tagging import tag_children

__all__ = ["BASE_INTERFACE_ENDPOINTS", "Foundation", "FoundationArgs", "private_bucket", "tls_only_statement"]

# Interface endpoints that keep image pulls, logs and STS inside the VPC; S3 is a gateway endpoint.
BASE_INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "logs", "sts")
ENDPOINT_SERVICE = r"[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*"
KEY_USERS_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]


@dataclass(frozen=True, kw_only=True)
class FoundationArgs(AwsArgs):
    """The shared AWS options plus what the pattern using the foundation needs from it.

    needs_network: False lets a pattern run without a VPC (Lambda outside a VPC).
    interface_endpoints: interface VPC endpoint services (``com.amazonaws.<region>.`` is added).
    autoscaling_key_grant: add the Auto Scaling service-linked role to the key policy (EBS volumes of ASGs and
        EKS managed node groups are encrypted with the key, which the service-linked role must be able to use).
    needs_log_group: False when the pattern writes no logs to the shared group (EKS and SageMaker write to
        log groups of fixed names, which they create with ``encrypted_log_group``).
    """

    # Not a serving target: whether gRPC is carried is the pattern's decision, not the foundation's.
    GRPC_REFUSAL: ClassVar[str | None] = None
    needs_network: bool = True
    needs_log_group: bool = True
    interface_endpoints: tuple[str, ...] = BASE_INTERFACE_ENDPOINTS
    autoscaling_key_grant: bool = False

    CODE_ONLY: ClassVar[tuple[str, ...]] = (
        "needs_network",
        "interface_endpoints",
        "autoscaling_key_grant",
        "needs_log_group",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_bool("needs_network", self.needs_network)
        object.__setattr__(
            self,
            "interface_endpoints",
            check_str_list(
                "interface_endpoints",
                self.interface_endpoints,
                pattern=ENDPOINT_SERVICE,
                description="a VPC endpoint service suffix such as ecr.api",
            ),
        )
        check_bool("autoscaling_key_grant", self.autoscaling_key_grant)
        check_bool("needs_log_group", self.needs_log_group)

    @classmethod
    def for_pattern(cls, args: AwsArgs, **needs: Any) -> FoundationArgs:
        return cls(service=args.service, **args.foundation_options(), **needs)


def tls_only_statement(bucket_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Deny every request to the bucket that does not use TLS 1.2 or newer."""
    return statement(
        "DenyInsecureTransport",
        ["s3:*"],
        [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
        principal={"AWS": "*"},
        effect="Deny",
        condition={"Bool": {"aws:SecureTransport": "false"}},
    )


def private_bucket(
    name: str,
    *,
    prefix: str,
    force_destroy: bool,
    encryption: dict[str, Any],
    bucket_key_enabled: bool,
    lifecycle_rule: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> tuple[aws.s3.Bucket, aws.s3.BucketPublicAccessBlock]:
    """A bucket no one can make public: owner-enforced objects, public access blocked, default encryption,
    versioning and a lifecycle rule. Children are named ``<name>-<part>``; the caller adds the bucket policy
    (which must depend on the returned public access block)."""
    bucket = aws.s3.Bucket(name, bucket_prefix=prefix, force_destroy=force_destroy, opts=opts)
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=opts
    )
    block = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": encryption, "bucket_key_enabled": bucket_key_enabled}],
        opts=opts,
    )
    aws.s3.BucketVersioning(
        f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=opts
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=[{"status": "Enabled", "filter": {"prefix": ""}, **lifecycle_rule}],
        opts=opts,
    )
    return bucket, block


class Foundation(pulumi.ComponentResource):
    """Network, key, registry, artifact bucket and log group for the patterns of one region."""

    args_type = FoundationArgs

    context: AwsContext
    vpc: aws.ec2.Vpc | None
    vpc_id: pulumi.Output[str] | None
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    key: aws.kms.Key | None
    kms_key_arn: pulumi.Output[str] | None
    repository: aws.ecr.Repository | None
    repository_arns: list[pulumi.Output[str]]
    artifact_bucket: aws.s3.Bucket | None
    artifact_bucket_name: pulumi.Output[str] | None
    log_group: aws.cloudwatch.LogGroup | None
    log_group_name: pulumi.Output[str] | None
    log_group_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: FoundationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            "modelport:aws:Foundation", name, None, merge_options(opts, transformations=[tag_children(args.service)])
        )
        self._name = name
        self._args = args
        self.args = args
        self.context = AwsContext.lookup(self)
        self._child = pulumi.ResourceOptions(parent=self)

        self.key = None
        self.kms_key_arn = self._own_account("kms_key_arn", args.kms_key_arn) if args.kms_key_arn else None
        if args.customer_managed_key and args.kms_key_arn is None:
            self.key = self._key()
            self.kms_key_arn = self.key.arn

        self.log_group, self.log_group_name, self.log_group_arn = self._log_group()
        self._network()
        self._repository()
        self._bucket()

        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "kms_key_arn": self.kms_key_arn,
                "repository_arns": self.repository_arns,
                "artifact_bucket": self.artifact_bucket_name,
                "log_group_name": self.log_group_name,
                "zone_names": self.zone_names,
            }
        )

    def _own_account(self, option: str, arn: str) -> pulumi.Output[str]:
        """``arn``, once it is known to be in the deploying account or acknowledged in ``cross_account``."""
        owner = arn.split(":")[4]

        def judge(account: str) -> str:
            if owner != account and option not in self._args.cross_account:
                raise SpecError(
                    option,
                    f"names a resource of account {owner}, not the deploying account {account}: modelport cannot "
                    f"see its policy. Acknowledge it with cross_account: [{option}] once its policy grants this "
                    "account what the service needs",
                )
            return arn

        return self.context.account_id.apply(judge)

    # --- KMS ---------------------------------------------------------------------------------------------------

    def _key(self) -> aws.kms.Key:
        ctx = self.context
        root = pulumi.Output.concat("arn:", ctx.partition, ":iam::", ctx.account_id, ":root")
        statements = [
            # Without this statement the key becomes unmanageable; IAM policies then decide who may use it.
            statement("EnableAccountAdministration", ["kms:*"], "*", principal={"AWS": root}),
            statement(
                "AllowCloudWatchLogsInThisAccount",
                # Describe* from the CloudWatch Logs example is left out: it carries no encryption context, so the
                # condition below could never match it.
                ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
                "*",
                principal={"Service": pulumi.Output.concat("logs.", ctx.region, ".", ctx.dns_suffix)},
                condition={"StringLike": {"kms:EncryptionContext:aws:logs:arn": ctx.arn("logs", "log-group:*")}},
            ),
            statement(
                # CloudWatch alarms publish to the alarm topic, which this key encrypts.
                "AllowCloudWatchAlarmsToPublishToEncryptedTopics",
                ["kms:Decrypt", "kms:GenerateDataKey*"],
                "*",
                principal={"Service": pulumi.Output.concat("cloudwatch.", ctx.dns_suffix)},
                condition={"StringEquals": {"aws:SourceAccount": ctx.account_id}},
            ),
        ]
        depends_on: list[pulumi.Resource] = []
        if self._args.autoscaling_key_grant and self._args.create_autoscaling_role:
            self.autoscaling_role = aws.iam.ServiceLinkedRole(
                f"{self._name}-autoscaling-role",
                aws_service_name="autoscaling.amazonaws.com",
                description="Auto Scaling service-linked role (created by modelport for the key policy)",
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            depends_on.append(self.autoscaling_role)
        if self._args.autoscaling_key_grant:
            slr = pulumi.Output.concat(
                "arn:",
                ctx.partition,
                ":iam::",
                ctx.account_id,
                ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
            )
            statements += [
                statement("AllowAutoScalingToUseTheKeyForEbs", KEY_USERS_ACTIONS, "*", principal={"AWS": slr}),
                statement(
                    "AllowAutoScalingToGrantEbsAttachment",
                    ["kms:CreateGrant"],
                    "*",
                    principal={"AWS": slr},
                    condition={"Bool": {"kms:GrantIsForAWSResource": "true"}},
                ),
            ]
        key = aws.kms.Key(
            f"{self._name}-key",
            description=f"modelport {self._args.service.name}: logs, images, artifacts and volumes ({self._name})",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=30 if self._args.profile.deletion_protection else 7,
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            policy=policy_document(statements),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        aws.kms.Alias(
            f"{self._name}-key-alias",
            name=f"alias/modelport/{stack_unique_name(self._name, 200)}",
            target_key_id=key.key_id,
            opts=self._child,
        )
        return key

    # --- logs --------------------------------------------------------------------------------------------------

    def encrypted_log_group(
        self, resource_name: str, log_name: str, parent: pulumi.Resource | None = None
    ) -> aws.cloudwatch.LogGroup:
        """A log group encrypted with this foundation's key, with its retention (a child of ``parent``)."""
        return aws.cloudwatch.LogGroup(
            resource_name,
            name=log_name,
            retention_in_days=self._args.retention_days,
            kms_key_id=self.kms_key_arn,
            opts=pulumi.ResourceOptions(parent=parent or self),
        )

    def _log_group(
        self,
    ) -> tuple[aws.cloudwatch.LogGroup | None, pulumi.Output[str] | None, pulumi.Output[str] | None]:
        args = self._args
        if not args.needs_log_group:
            return None, None, None
        if args.log_group_name is not None:
            name = pulumi.Output.from_input(args.log_group_name)
            return None, name, self.context.arn("logs", pulumi.Output.concat("log-group:", name))
        group = self.encrypted_log_group(f"{self._name}-logs", f"/modelport/{stack_unique_name(self._name, 400)}")
        return group, group.name, group.arn

    # --- network -----------------------------------------------------------------------------------------------

    def _network(self) -> None:
        args = self._args
        self.vpc = None
        self.vpc_cidr: pulumi.Output[str] | None = None
        self.endpoints: dict[str, aws.ec2.VpcEndpoint] = {}
        self.nat_gateways: list[aws.ec2.NatGateway] = []
        self.zone_names: list[pulumi.Output[str]] = []
        if args.vpc_id is not None:
            self.vpc_id = pulumi.Output.from_input(args.vpc_id)
            self.private_subnet_ids = [pulumi.Output.from_input(s) for s in args.private_subnet_ids]
            self.public_subnet_ids = [pulumi.Output.from_input(s) for s in args.public_subnet_ids]
            self.vpc_cidr = required(
                aws.ec2.get_vpc_output(id=args.vpc_id, opts=pulumi.InvokeOutputOptions(parent=self)),
                "aws:ec2/getVpc:getVpc",
                "cidr_block",
            )
            self.zone_names = self._subnet_zones(args.private_subnet_ids)
            return
        if not args.needs_network:
            self.vpc_id = None
            self.private_subnet_ids = []
            self.public_subnet_ids = []
            return
        self._create_vpc()

    def _subnet_zones(self, subnet_ids: tuple[str, ...]) -> list[pulumi.Output[str]]:
        """The zones of bring-your-own subnets, looked up with the provider, and judged: the subnets must span
        as many distinct zones as the profile asks (a real preview judges the real subnets)."""
        zones = [
            aws.ec2.get_subnet_output(id=subnet_id, opts=pulumi.InvokeOutputOptions(parent=self)).availability_zone
            for subnet_id in subnet_ids
        ]
        needed = self._args.zone_count

        def judge(names: list[str]) -> list[str]:
            distinct = sorted(set(names))
            if len(distinct) < needed:
                placed = ", ".join(f"{s} in {z}" for s, z in zip(subnet_ids, names, strict=True))
                raise SpecError(
                    "private_subnet_ids",
                    f"the subnets span {len(distinct)} availability zone(s) ({placed}); the {self._args.profile.name} "
                    f"profile needs {needed} distinct zones",
                )
            return names

        checked = pulumi.Output.all(*zones).apply(judge)
        return [checked.apply(lambda names, i=i: names[i]) for i in range(len(zones))]

    def _create_vpc(self) -> None:
        args = self._args
        name = self._name
        zones = args.zone_count
        available = aws.get_availability_zones_output(
            state="available",
            filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )

        def zone(index: int) -> pulumi.Output[str]:
            def pick(names: list[str]) -> str:
                if len(names) < zones:
                    raise SpecError(
                        "zones",
                        f"the region offers {len(names)} availability zones; {zones} "
                        "were asked (set the target option zones)",
                    )
                return names[index]

            return required(available, "aws:index/getAvailabilityZones:getAvailabilityZones", "names").apply(pick)

        network = ipaddress.ip_network(args.vpc_cidr)
        quarters = list(network.subnets(prefixlen_diff=2))
        private_cidrs = [str(q) for q in quarters[:zones]]
        public_cidrs = [str(s) for s in list(quarters[3].subnets(prefixlen_diff=2))[:zones]]

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": name},
            opts=self._child,
        )
        self.vpc_id = self.vpc.id
        self.vpc_cidr = self.vpc.cidr_block
        # The default security group allows all traffic between its members; nothing should use it.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=self.vpc.id, ingress=[], egress=[], opts=self._child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags={"Name": name}, opts=self._child)

        self.zone_names = [zone(i) for i in range(zones)]
        private, public = [], []
        for index in range(zones):
            letter = "abc"[index]
            public.append(
                aws.ec2.Subnet(
                    f"{name}-public-{letter}",
                    vpc_id=self.vpc.id,
                    cidr_block=public_cidrs[index],
                    availability_zone=self.zone_names[index],
                    map_public_ip_on_launch=False,
                    tags={"Name": f"{name}-public-{letter}", "kubernetes.io/role/elb": "1"},
                    opts=self._child,
                )
            )
            private.append(
                aws.ec2.Subnet(
                    f"{name}-private-{letter}",
                    vpc_id=self.vpc.id,
                    cidr_block=private_cidrs[index],
                    availability_zone=self.zone_names[index],
                    map_public_ip_on_launch=False,
                    tags={"Name": f"{name}-private-{letter}", "kubernetes.io/role/internal-elb": "1"},
                    opts=self._child,
                )
            )
        self.public_subnets, self.private_subnets = public, private
        self.public_subnet_ids = [s.id for s in public]
        self.private_subnet_ids = [s.id for s in private]

        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=self.vpc.id, tags={"Name": f"{name}-public"}, opts=self._child
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=self._child,
        )
        for index, subnet in enumerate(public):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-rta-{'abc'[index]}", subnet_id=subnet.id, route_table_id=public_rt.id, opts=self._child
            )

        nat_per_zone = args.nat_per_zone if args.nat_per_zone is not None else args.profile.nat_per_zone
        for index in range(zones if nat_per_zone else 1):
            letter = "abc"[index]
            eip = aws.ec2.Eip(
                f"{name}-nat-eip-{letter}", domain="vpc", tags={"Name": f"{name}-nat-{letter}"}, opts=self._child
            )
            self.nat_gateways.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{letter}",
                    allocation_id=eip.allocation_id,
                    subnet_id=public[index].id,
                    connectivity_type="public",
                    tags={"Name": f"{name}-nat-{letter}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
            )
        private_rts = []
        for index, subnet in enumerate(private):
            letter = "abc"[index]
            rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{letter}",
                vpc_id=self.vpc.id,
                tags={"Name": f"{name}-private-{letter}"},
                opts=self._child,
            )
            nat = self.nat_gateways[index if nat_per_zone else 0]
            aws.ec2.Route(
                f"{name}-private-default-{letter}",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat.id,
                opts=self._child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-rta-{letter}", subnet_id=subnet.id, route_table_id=rt.id, opts=self._child
            )
            private_rts.append(rt)

        if args.vpc_endpoints:
            self._endpoints(private_rts)
        if args.flow_logs:
            self._flow_logs()

    def _endpoints(self, private_route_tables: list[aws.ec2.RouteTable]) -> None:
        name = self._name
        assert self.vpc is not None
        sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            vpc_id=self.vpc.id,
            description="HTTPS from inside the VPC to its interface endpoints",
            opts=self._child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-endpoints-https",
            security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=self.vpc.cidr_block,
            description="HTTPS from the VPC",
            opts=self._child,
        )
        self.endpoint_security_group = sg
        region = self.context.region
        self.endpoints["s3"] = aws.ec2.VpcEndpoint(
            f"{name}-vpce-s3",
            vpc_id=self.vpc.id,
            service_name=pulumi.Output.concat("com.amazonaws.", region, ".s3"),
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_route_tables],
            opts=self._child,
        )
        for service in self._args.interface_endpoints:
            self.endpoints[service] = aws.ec2.VpcEndpoint(
                f"{name}-vpce-{service.replace('.', '-')}",
                vpc_id=self.vpc.id,
                service_name=pulumi.Output.concat("com.amazonaws.", region, ".", service),
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.private_subnet_ids,
                security_group_ids=[sg.id],
                opts=self._child,
            )

    def _flow_logs(self) -> None:
        name = self._name
        ctx = self.context
        assert self.vpc is not None
        group = self.encrypted_log_group(f"{name}-flow-logs", f"/modelport/{stack_unique_name(name, 380)}/flow-logs")
        trust = service_trust(
            ctx,
            "vpc-flow-logs",
            condition={
                "StringEquals": {"aws:SourceAccount": ctx.account_id},
                "ArnLike": {"aws:SourceArn": ctx.arn("ec2", "vpc-flow-log/*")},
            },
        )
        role, policy = role_with_policy(
            f"{name}-flow-logs-role",
            base_name=f"{name}-flowlogs",
            trust=trust,
            statements=[
                statement(
                    "WriteFlowLogs",
                    ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    [group.arn, pulumi.Output.concat(group.arn, ":log-stream:*")],
                ),
            ],
            description=f"VPC flow logs of {name} into its encrypted log group",
            parent=self,
        )
        self.flow_log = aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[p for p in (policy,) if p is not None]),
        )

    # --- ECR ---------------------------------------------------------------------------------------------------

    def _repository(self) -> None:
        args = self._args
        self.repository = None
        self.repository_arns = []
        if args.repository_arn is not None:
            self.repository_arns.append(pulumi.Output.from_input(args.repository_arn))
            return
        if not args.create_repository:
            return
        encryption = (
            {"encryption_type": "KMS", "kms_key": self.kms_key_arn}
            if self.kms_key_arn is not None
            else {"encryption_type": "AES256"}
        )
        self.repository = aws.ecr.Repository(
            f"{self._name}-repo",
            name=f"modelport/{stack_unique_name(self._name, 200)}",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[encryption],
            force_delete=not args.profile.deletion_protection,
            opts=self._child,
        )
        aws.ecr.LifecyclePolicy(
            f"{self._name}-repo-lifecycle",
            repository=self.repository.name,
            policy=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": "Expire untagged images after 14 days",
                            "selection": {
                                "tagStatus": "untagged",
                                "countType": "sinceImagePushed",
                                "countUnit": "days",
                                "countNumber": 14,
                            },
                            "action": {"type": "expire"},
                        },
                        {
                            "rulePriority": 2,
                            "description": "Keep the 100 most recent images",
                            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 100},
                            "action": {"type": "expire"},
                        },
                    ]
                }
            ),
            opts=self._child,
        )
        self.repository_arns.append(self.repository.arn)

    # --- S3 ----------------------------------------------------------------------------------------------------

    def _bucket(self) -> None:
        args = self._args
        self.artifact_bucket = None
        self.artifact_bucket_name = None
        self.artifact_bucket_arn: pulumi.Output[str] | None = None
        if args.artifact_bucket is not None:
            self.artifact_bucket_name = pulumi.Output.from_input(args.artifact_bucket)
            self.artifact_bucket_arn = pulumi.Output.concat(
                "arn:", self.context.partition, ":s3:::", args.artifact_bucket
            )
            return
        if not args.create_artifact_bucket:
            return
        name = self._name
        if self.kms_key_arn is not None:
            default = {"sse_algorithm": "aws:kms", "kms_master_key_id": self.kms_key_arn}
        else:
            default = {"sse_algorithm": "AES256"}
        bucket, block = private_bucket(
            f"{name}-artifacts",
            prefix=physical_name(f"{args.service.name}-artifacts", 36, suffix="-"),
            force_destroy=not args.profile.deletion_protection,
            encryption=default,
            bucket_key_enabled=self.kms_key_arn is not None,
            lifecycle_rule={
                "id": "tidy-old-versions",
                "noncurrent_version_expiration": {"noncurrent_days": 90},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
            },
            opts=self._child,
        )
        self.artifact_bucket = bucket
        self.artifact_bucket_name = bucket.bucket
        self.artifact_bucket_arn = bucket.arn
        aws.s3.BucketPolicy(
            f"{name}-artifacts-policy",
            bucket=bucket.id,
            policy=policy_document([tls_only_statement(bucket.arn)]),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]),
        )
