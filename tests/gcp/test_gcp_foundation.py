"""The GCP foundation: network, key, registry, bucket and identity, each default / bring-your-own / skip."""

from __future__ import annotations

from gcp_fixtures import (
    CHECKOUT,
    DEV,
    KEY_ROLE,
    PROD,
    PROJECT,
    REGION,
    SECRET,
    args_of,
    email_of,
    gcp_service,
    register,
)
from modelport.gcp.container import CloudRunService, CloudRunServiceArgs

KEY = f"projects/{PROJECT}/locations/{REGION}/keyRings/platform/cryptoKeys/models"
NETWORK = f"projects/{PROJECT}/global/networks/shared"
SUBNET = f"projects/{PROJECT}/regions/{REGION}/subnetworks/models"


def deploy(mocks, profile=PROD, service=None, **options):
    args = args_of(CloudRunServiceArgs, service, profile, **options)
    register(lambda: CloudRunService("churn-run", args))
    return mocks


def test_default_network_is_a_custom_vpc_with_private_google_access_flow_logs_and_nat(pulumi_mocks):
    deploy(pulumi_mocks)
    network = pulumi_mocks.one("gcp:compute/network:Network").inputs
    assert network["autoCreateSubnetworks"] is False
    subnet = pulumi_mocks.one("gcp:compute/subnetwork:Subnetwork").inputs
    assert subnet["privateIpGoogleAccess"] is True
    assert subnet["ipCidrRange"] == "10.10.0.0/20"
    assert subnet["logConfig"]["aggregationInterval"] == "INTERVAL_5_SEC"
    nat = pulumi_mocks.one("gcp:compute/routerNat:RouterNat").inputs
    assert nat["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
    assert nat["subnetworks"] == [
        {"name": pulumi_mocks.one("gcp:compute/subnetwork:Subnetwork").id, "sourceIpRangesToNats": ["ALL_IP_RANGES"]}
    ]
    # Cloud Run needs no health-check firewall: nothing is opened
    assert pulumi_mocks.by_type("gcp:compute/firewall:Firewall") == []


def test_default_key_rotates_every_90_days_and_is_protected_in_prod(pulumi_mocks):
    deploy(pulumi_mocks)
    key = pulumi_mocks.one("gcp:kms/cryptoKey:CryptoKey")
    assert key.inputs["rotationPeriod"] == "7776000s"
    assert key.inputs["purpose"] == "ENCRYPT_DECRYPT"
    assert key.protect is True
    ring = pulumi_mocks.one("gcp:kms/keyRing:KeyRing").inputs
    assert ring["location"] == REGION
    for grant in pulumi_mocks.by_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"):
        assert grant.inputs["role"] == KEY_ROLE
        assert grant.inputs["cryptoKeyId"] == key.id
        assert grant.inputs["member"].startswith("serviceAccount:service-")


def test_dev_key_is_not_protected(pulumi_mocks):
    assert deploy(pulumi_mocks, DEV).one("gcp:kms/cryptoKey:CryptoKey").protect is False


def test_registry_and_bucket_are_cmek_immutable_private_and_versioned(pulumi_mocks):
    deploy(pulumi_mocks)
    key = pulumi_mocks.one("gcp:kms/cryptoKey:CryptoKey").id
    repo = pulumi_mocks.one("gcp:artifactregistry/repository:Repository").inputs
    assert (repo["format"], repo["kmsKeyName"], repo["dockerConfig"]) == ("DOCKER", key, {"immutableTags": True})
    bucket = pulumi_mocks.one("gcp:storage/bucket:Bucket").inputs
    assert bucket["encryption"] == {"defaultKmsKeyName": key}
    assert bucket["uniformBucketLevelAccess"] is True
    assert bucket["publicAccessPrevention"] == "enforced"
    assert bucket["versioning"] == {"enabled": True}
    assert bucket["forceDestroy"] is False


def test_the_identity_is_granted_on_resources_not_the_project(pulumi_mocks):
    deploy(pulumi_mocks, service=gcp_service(secrets={"DB_URL": SECRET}))
    member = "serviceAccount:" + email_of(pulumi_mocks, "churn-run-foundation-identity")
    readers = pulumi_mocks.by_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    assert {(r.inputs["repository"], r.inputs["role"], r.inputs["member"]) for r in readers} == {
        (
            pulumi_mocks.one("gcp:artifactregistry/repository:Repository").outputs["name"],
            "roles/artifactregistry.reader",
            member,
        ),
        ("serving", "roles/artifactregistry.reader", member),
    }
    bucket = pulumi_mocks.one("gcp:storage/bucketIAMMember:BucketIAMMember").inputs
    assert (bucket["role"], bucket["member"]) == ("roles/storage.objectViewer", member)
    secret = pulumi_mocks.one("gcp:secretmanager/secretIamMember:SecretIamMember").inputs
    assert (secret["project"], secret["secretId"], secret["member"]) == (PROJECT, "db-url", member)
    assert pulumi_mocks.by_type("gcp:projects/iAMMember:IAMMember") == []
    assert member != CHECKOUT


def test_bring_your_own_key_network_and_identity(pulumi_mocks):
    email = f"churn-runner@{PROJECT}.iam.gserviceaccount.com"
    deploy(pulumi_mocks, kms_key=KEY, network=NETWORK, subnetwork=SUBNET, service_account=email)
    assert pulumi_mocks.by_type("gcp:kms/cryptoKey:CryptoKey") == []
    assert pulumi_mocks.by_type("gcp:compute/network:Network") == []
    assert pulumi_mocks.by_type("gcp:serviceaccount/account:Account") == []
    template = pulumi_mocks.one("gcp:cloudrunv2/service:Service").inputs["template"]
    assert template["encryptionKey"] == KEY
    assert template["serviceAccount"] == email
    assert template["vpcAccess"]["networkInterfaces"] == [{"network": NETWORK, "subnetwork": SUBNET}]
    # the service agents still get the key they encrypt with
    grants = pulumi_mocks.by_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert {g.inputs["cryptoKeyId"] for g in grants} == {KEY}


def test_google_managed_encryption_and_no_registry_or_bucket(pulumi_mocks):
    deploy(pulumi_mocks, DEV, encryption="google-managed", create_repository=False, create_artifact_bucket=False)
    assert pulumi_mocks.by_type("gcp:kms/keyRing:KeyRing") == []
    assert pulumi_mocks.by_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember") == []
    assert pulumi_mocks.by_type("gcp:artifactregistry/repository:Repository") == []
    assert pulumi_mocks.by_type("gcp:storage/bucket:Bucket") == []
    assert "encryptionKey" not in pulumi_mocks.one("gcp:cloudrunv2/service:Service").inputs["template"]
