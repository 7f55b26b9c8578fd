"""Mock outputs and invokes for pulumi-aws: realistic ids, ARNs, DNS names and the data sources components call."""

from __future__ import annotations

from typing import Any

from ..mocks import MockContext, fake_id, register_invoke, register_outputs

# Resource ids that AWS gives a recognisable prefix.
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt-",
    "aws:ec2/flowLog:FlowLog": "fl-",
}

# A PEM-shaped placeholder certificate authority ("MOCK"), base64 as EKS returns it.
MOCK_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1PQ0sKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="


def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


@register_outputs("aws")
def aws_outputs(
    type_: str, name: str, inputs: dict[str, Any], ctx: MockContext, provider: str | None
) -> dict[str, Any]:
    region = ctx.region("aws", provider)
    account = ctx.aws_account
    module = type_.split(":")[1].split("/")[0]
    kind = type_.rsplit(":", 1)[-1]
    out: dict[str, Any] = {}
    physical = inputs.get("name") or (
        f"{inputs['namePrefix']}{fake_id(type_, name, length=26)}"
        if inputs.get("namePrefix")
        else f"{name}-{fake_id(type_, name, length=7)}"
    )
    if type_ in _ID_PREFIX:
        out["id"] = _ID_PREFIX[type_] + fake_id(type_, name)
    if type_ == "aws:s3/bucket:Bucket" or type_.startswith("aws:s3/bucketV2"):
        bucket = inputs.get("bucket") or (
            f"{inputs['bucketPrefix']}{fake_id(type_, name, length=26)}"
            if inputs.get("bucketPrefix")
            else f"{name}-{fake_id(type_, name, length=8)}"
        )
        out.update(
            id=bucket,
            bucket=bucket,
            arn=f"arn:aws:s3:::{bucket}",
            bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com",
            region=region,
        )
    elif module == "iam" and kind in ("Role", "Policy", "InstanceProfile", "User"):
        path_part = {"Role": "role", "Policy": "policy", "InstanceProfile": "instance-profile", "User": "user"}[kind]
        out.update(
            id=physical,
            name=physical,
            arn=f"arn:aws:iam::{account}:{path_part}/{physical}",
            uniqueId="AROA" + fake_id(type_, name, length=17).upper(),
        )
    elif type_ == "aws:kms/key:Key":
        key_id = "-".join(fake_id(name, str(i), length=n) for i, n in enumerate((8, 4, 4, 4, 12)))
        out.update(id=key_id, keyId=key_id, arn=_arn("kms", region, account, f"key/{key_id}"))
    elif type_ == "aws:kms/alias:Alias":
        out.update(arn=_arn("kms", region, account, inputs.get("name", f"alias/{name}")))
    elif type_ == "aws:ecr/repository:Repository":
        out.update(
            id=physical,
            arn=_arn("ecr", region, account, f"repository/{physical}"),
            registryId=account,
            repositoryUrl=f"{account}.dkr.ecr.{region}.amazonaws.com/{physical}",
        )
    elif type_ == "aws:cloudwatch/logGroup:LogGroup":
        out.update(id=physical, name=physical, arn=_arn("logs", region, account, f"log-group:{physical}"))
    elif type_ in ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"):
        suffix = f"app/{physical}/{fake_id(name, length=16)}"
        out.update(
            arn=_arn("elasticloadbalancing", region, account, f"loadbalancer/{suffix}"),
            arnSuffix=suffix,
            dnsName=f"internal-{physical}-{fake_id(name, length=10)}.{region}.elb.amazonaws.com",
            zoneId="Z35SXDOTRQ7X7K",
        )
    elif type_ in ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup"):
        suffix = f"targetgroup/{physical}/{fake_id(name, length=16)}"
        out.update(arn=_arn("elasticloadbalancing", region, account, suffix), arnSuffix=suffix)
    elif type_ in ("aws:lb/listener:Listener", "aws:alb/listener:Listener"):
        out.update(arn=_arn("elasticloadbalancing", region, account, f"listener/app/{physical}/{fake_id(name)}"))
    elif type_ == "aws:lambda/function:Function":
        arn = _arn("lambda", region, account, f"function:{physical}")
        out.update(
            id=physical,
            arn=arn,
            version="1",
            qualifiedArn=f"{arn}:1",
            invokeArn=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations",
        )
    elif type_ == "aws:lambda/alias:Alias":
        out.update(
            invokeArn=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/"
            f"{_arn('lambda', region, account, 'function:' + str(inputs.get('functionName')))}"
            f":{physical}/invocations"
        )
        out.update(arn=_arn("lambda", region, account, f"function:{inputs.get('functionName', name)}:{physical}"))
    elif type_ == "aws:lambda/functionUrl:FunctionUrl":
        out.update(functionUrl=f"https://{fake_id(name, length=32)}.lambda-url.{region}.on.aws/")
    elif type_ == "aws:eks/cluster:Cluster":
        out.update(
            id=physical,
            name=physical,
            arn=_arn("eks", region, account, f"cluster/{physical}"),
            endpoint=f"https://{fake_id(name, length=32).upper()}.gr7.{region}.eks.amazonaws.com",
            certificateAuthority={"data": MOCK_CA},
            identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{fake_id(name).upper()}"}]}],
            version=inputs.get("version", "1.33"),
        )
    elif module == "sagemaker":
        resource = {"Model": "model", "EndpointConfiguration": "endpoint-config", "Endpoint": "endpoint"}.get(
            kind, kind.lower()
        )
        out.update(id=physical, name=physical, arn=_arn("sagemaker", region, account, f"{resource}/{physical}"))
    elif module == "ecs" and kind in ("Cluster", "Service", "TaskDefinition"):
        resource = {
            "Cluster": f"cluster/{physical}",
            "Service": f"service/{physical}",
            "TaskDefinition": f"task-definition/{inputs.get('family', physical)}:1",
        }[kind]
        out.update(arn=_arn("ecs", region, account, resource), name=physical)
        if kind == "TaskDefinition":
            out["revision"] = 1
    elif type_ == "aws:ec2/launchTemplate:LaunchTemplate":
        out.update(
            name=physical,
            latestVersion=1,
            defaultVersion=1,
            arn=_arn("ec2", region, account, f"launch-template/{out['id']}"),
        )
    elif type_ == "aws:autoscaling/group:Group":
        out.update(
            id=physical,
            name=physical,
            arn=_arn(
                "autoscaling",
                region,
                account,
                f"autoScalingGroup:{fake_id(name, length=8)}-0000-0000-0000-000000000000"
                f":autoScalingGroupName/{physical}",
            ),
        )
    elif type_ == "aws:eks/nodeGroup:NodeGroup":
        group = inputs.get("nodeGroupName") or physical
        out.update(
            nodeGroupName=group,
            arn=_arn("eks", region, account, f"nodegroup/{inputs.get('clusterName')}/{group}/{fake_id(name)}"),
            status="ACTIVE",
        )
    elif type_ == "aws:eks/addon:Addon":
        out.update(
            arn=_arn(
                "eks", region, account, f"addon/{inputs.get('clusterName')}/{inputs.get('addonName')}/{fake_id(name)}"
            ),
            addonVersion="v1.0.0-eksbuild.1",
        )
    elif type_ == "aws:eks/accessEntry:AccessEntry":
        out.update(
            accessEntryArn=_arn("eks", region, account, f"access-entry/{inputs.get('clusterName')}/{fake_id(name)}")
        )
    elif type_ == "aws:eks/podIdentityAssociation:PodIdentityAssociation":
        out.update(
            associationId=f"a-{fake_id(name, length=17)}",
            associationArn=_arn(
                "eks", region, account, f"podidentityassociation/{inputs.get('clusterName')}/a-{fake_id(name)}"
            ),
        )
    elif type_ == "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig":
        out.update(id=f"{inputs.get('functionName')},{inputs.get('qualifier')}")
    elif type_ == "aws:appautoscaling/target:Target":
        out.update(
            id=inputs.get("resourceId", physical),
            arn=_arn("application-autoscaling", region, account, f"scalable-target/{fake_id(name, length=28)}"),
        )
    elif type_ == "aws:appautoscaling/policy:Policy":
        out.update(
            arn=_arn(
                "autoscaling",
                region,
                account,
                f"scalingPolicy:{fake_id(name, length=8)}:resource/{inputs.get('resourceId')}:policyName/{physical}",
            )
        )
    elif module == "secretsmanager" and kind == "Secret":
        out.update(arn=_arn("secretsmanager", region, account, f"secret:{physical}-{fake_id(name, length=6)}"))
    if "arn" not in out and module in ("ec2", "sns", "cloudwatch", "acm", "wafv2", "appautoscaling", "autoscaling"):
        out["arn"] = _arn(module, region, account, f"{kind.lower()}/{out.get('id', physical)}")
    if type_ == "aws:ec2/subnet:Subnet":
        out.setdefault("availabilityZone", inputs.get("availabilityZone") or f"{region}a")
    if type_ == "aws:ec2/securityGroup:SecurityGroup":
        out.setdefault("name", physical)
    return out


@register_invoke("aws:index/getAvailabilityZones:getAvailabilityZones")
def availability_zones(args: dict[str, Any], ctx: MockContext, provider: str | None) -> dict[str, Any]:
    region = ctx.region("aws", provider)
    letters = "abcdef"
    return {
        "id": region,
        "names": [f"{region}{c}" for c in letters],
        "zoneIds": [f"use1-az{i + 1}" for i in range(len(letters))],
        "groupNames": [region],
        "state": "available",
    }


@register_invoke("aws:index/getCallerIdentity:getCallerIdentity")
def caller_identity(args: dict[str, Any], ctx: MockContext, provider: str | None) -> dict[str, Any]:
    return {
        "id": ctx.aws_account,
        "accountId": ctx.aws_account,
        "userId": "AIDAMOCKPLANUSER",
        "arn": f"arn:aws:iam::{ctx.aws_account}:role/modelport-plan",
    }


@register_invoke("aws:index/getRegion:getRegion")
def region(args: dict[str, Any], ctx: MockContext, provider: str | None) -> dict[str, Any]:
    name = ctx.region("aws", provider)
    return {"id": name, "name": name, "region": name, "endpoint": f"ec2.{name}.amazonaws.com", "description": name}


@register_invoke("aws:index/getPartition:getPartition")
def partition(args: dict[str, Any], ctx: MockContext, provider: str | None) -> dict[str, Any]:
    return {"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}


@register_invoke("aws:ec2/getVpc:getVpc")
def vpc(args: dict[str, Any], ctx: MockContext, provider: str | None) -> dict[str, Any]:
    vpc_id = args.get("id") or f"vpc-{fake_id('default-vpc')}"
    region = ctx.region("aws", provider)
    return {
        "id": vpc_id,
        "arn": f"arn:aws:ec2:{region}:{ctx.aws_account}:vpc/{vpc_id}",
        "cidrBlock": "10.42.0.0/16",
        "default": False,
        "state": "available",
        "ownerId": ctx.aws_account,
        "enableDnsHostnames": True,
        "enableDnsSupport": True,
        "instanceTenancy": "default",
        "mainRouteTableId": f"rtb-{fake_id(vpc_id)}",
        "dhcpOptionsId": f"dopt-{fake_id(vpc_id)}",
        "cidrBlockAssociations": [],
        "ipv6AssociationId": "",
        "ipv6CidrBlock": "",
        "tags": {},
        "region": region,
    }


@register_invoke("aws:ec2/getSubnet:getSubnet")
def subnet(args: dict[str, Any], ctx: MockContext, provider: str | None) -> dict[str, Any]:
    """A bring-your-own subnet. Its zone comes from the id's last hex digit (0 -> a, 1 -> b, ... mod 6), so a test
    picks zones by the ids it names."""
    subnet_id = str(args.get("id") or f"subnet-{fake_id('default-subnet')}")
    region = ctx.region("aws", provider)
    digit = subnet_id[-1]
    letter = "abcdef"[int(digit, 16) % 6] if digit in "0123456789abcdef" else "a"
    return {
        "id": subnet_id,
        "arn": f"arn:aws:ec2:{region}:{ctx.aws_account}:subnet/{subnet_id}",
        "availabilityZone": f"{region}{letter}",
        "availabilityZoneId": f"use1-az{'abcdef'.index(letter) + 1}",
        "cidrBlock": f"10.42.{'abcdef'.index(letter)}.0/24",
        "vpcId": str(args.get("vpcId") or f"vpc-{fake_id('default-vpc')}"),
        "ownerId": ctx.aws_account,
        "state": "available",
        "mapPublicIpOnLaunch": False,
        "defaultForAz": False,
        "tags": {},
    }


@register_invoke("aws:iam/getSessionContext:getSessionContext")
def session_context(args: dict[str, Any], ctx: MockContext, provider: str | None) -> dict[str, Any]:
    """The mock caller is the role ``modelport-plan``; an assumed-role ARN maps to its role ARN."""
    arn = str(args.get("arn") or "")
    issuer = arn
    name = arn.rsplit("/", 1)[-1]
    if ":assumed-role/" in arn:
        _, role, session = arn.split("/", 2)
        name = role
        issuer = f"arn:aws:iam::{ctx.aws_account}:role/{role}"
        return {
            "id": arn,
            "arn": arn,
            "issuerArn": issuer,
            "issuerId": "AROAMOCKPLANROLE",
            "issuerName": role,
            "sessionName": session,
        }
    return {
        "id": arn,
        "arn": arn,
        "issuerArn": issuer,
        "issuerId": "AROAMOCKPLANROLE",
        "issuerName": name,
        "sessionName": "",
    }


@register_invoke("aws:eks/getCluster:getCluster")
def eks_cluster(args: dict[str, Any], ctx: MockContext, provider: str | None) -> dict[str, Any]:
    name = str(args.get("name"))
    region = ctx.region("aws", provider)
    return {
        "id": name,
        "name": name,
        "arn": f"arn:aws:eks:{region}:{ctx.aws_account}:cluster/{name}",
        "endpoint": f"https://{fake_id(name, length=32).upper()}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthorities": [{"data": MOCK_CA}],
        "version": "1.33",
        "status": "ACTIVE",
        "platformVersion": "eks.1",
        "roleArn": f"arn:aws:iam::{ctx.aws_account}:role/{name}-cluster",
        "vpcConfig": {
            "clusterSecurityGroupId": f"sg-{fake_id(name, 'cluster')}",
            "vpcId": f"vpc-{fake_id(name)}",
            "subnetIds": [],
            "securityGroupIds": [],
            "endpointPrivateAccess": True,
            "endpointPublicAccess": False,
            "publicAccessCidrs": [],
        },
        "accessConfigs": [{"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}],
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{fake_id(name).upper()}"}]}],
        "kubernetesNetworkConfigs": [],
        "enabledClusterLogTypes": [],
        "tags": {},
        "createdAt": "2025-01-01T00:00:00Z",
        "clusterId": "",
        "computeConfigs": [],
        "outpostConfigs": [],
        "remoteNetworkConfigs": [],
        "storageConfigs": [],
        "upgradePolicies": [],
        "zonalShiftConfigs": [],
        "deletionProtection": False,
        "controlPlaneScalingConfigs": [],
        "kubeApiServerConfigs": [],
        "kubeControllerManagerConfigs": [],
        "kubeSchedulerConfigs": [],
        "region": region,
    }


@register_invoke("aws:acm/getCertificate:getCertificate")
def acm_certificate(args: dict[str, Any], ctx: MockContext, provider: str | None) -> dict[str, Any]:
    """The newest issued certificate for the domain, as ACM would return it."""
    domain = args.get("domain") or "example.com"
    region = ctx.region("aws", provider)
    certificate_id = "{}-{}-4{}-8{}-{}".format(
        fake_id(domain, "a", length=8),
        fake_id(domain, "b", length=4),
        fake_id(domain, "c", length=3),
        fake_id(domain, "d", length=3),
        fake_id(domain, "e", length=12),
    )
    return {
        "id": domain,
        "domain": domain,
        "arn": f"arn:aws:acm:{region}:{ctx.aws_account}:certificate/{certificate_id}",
        "status": "ISSUED",
        "statuses": ["ISSUED"],
        "keyTypes": ["RSA_2048"],
        "types": ["AMAZON_ISSUED"],
        "tags": {},
        "certificate": "",
        "certificateChain": "",
    }
