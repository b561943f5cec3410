"""`blog-infra local up` deploys the platform through the real CDK CLI and a real CloudFormation
engine; what the templates say exists is read back through the services' own APIs."""

from __future__ import annotations

import json

import pytest

from emulator import control
from tests.integration.conftest import LocalPlatform

pytestmark = pytest.mark.integration

PREFIX = "rocketclub-local-123456789012"


def test_up_prints_the_outputs(platform: LocalPlatform) -> None:
    assert "Deployed blog-local" in platform.up_output
    assert "blog-local outputs" in platform.up_output
    assert f"{PREFIX}-raw" in platform.up_output


def test_vpc_and_three_subnet_tiers_exist(platform: LocalPlatform) -> None:
    ec2 = platform.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:environment", "Values": ["local"]}])["Vpcs"]
    assert [v["CidrBlock"] for v in vpcs] == ["10.40.0.0/16"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}])["Subnets"]
    assert len(subnets) == 6
    assert {s["AvailabilityZoneId"] for s in subnets} == {"use1-az1", "use1-az2"}


@pytest.mark.parametrize("purpose", ["cached", "raw", "clean", "design-files"])
def test_buckets_are_private_encrypted_with_lifecycle(platform: LocalPlatform, purpose: str) -> None:
    s3 = platform.client("s3")
    name = f"{PREFIX}-{purpose}"
    block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    versioning = s3.get_bucket_versioning(Bucket=name).get("Status")
    assert versioning == (None if purpose == "cached" else "Enabled")
    rules = {r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]}
    assert "abort-incomplete-uploads" in rules
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
    assert tags["component"] == "s3-data" and tags["environment"] == "local"
    policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
    assert any(st["Effect"] == "Deny" for st in policy["Statement"])


def test_aurora_cluster_has_its_writer_and_scaling(platform: LocalPlatform) -> None:
    rds = platform.client("rds")
    (cluster,) = rds.describe_db_clusters()["DBClusters"]
    assert cluster["Engine"] == "aurora-postgresql"
    assert cluster["EngineVersion"] == "16.9"
    assert cluster["StorageEncrypted"] is True
    assert cluster["ServerlessV2ScalingConfiguration"]["MinCapacity"] == 0.5
    assert cluster["ServerlessV2ScalingConfiguration"]["MaxCapacity"] == 4
    writers = [m for m in cluster["DBClusterMembers"] if m["IsClusterWriter"]]
    assert len(writers) == 1
    instance = rds.describe_db_instances(DBInstanceIdentifier=writers[0]["DBInstanceIdentifier"])[
        "DBInstances"
    ][0]
    assert instance["DBInstanceClass"] == "db.serverless"


def test_secrets_exist_and_hold_no_real_values(platform: LocalPlatform) -> None:
    sm = platform.client("secretsmanager")
    names = {s["Name"] for s in sm.list_secrets(MaxResults=100)["SecretList"]}
    for name in (
        "blog/local/database/backstage",
        "blog/local/database/prefect",
        "blog/local/database/pipelines",
        "blog/local/external/neo4j-aura",
        "blog/local/external/cloudinary",
        "blog/local/external/frontend-neo4j-aura",
        "blog/local/external/frontend-cloudinary",
        "blog/local/edge/origin-verify",
    ):
        assert name in names
    neo4j = json.loads(sm.get_secret_value(SecretId="blog/local/external/neo4j-aura")["SecretString"])
    assert neo4j["placeholder"] == "true" and len(neo4j["password"]) == 32


def test_consumer_contract_is_in_ssm(platform: LocalPlatform) -> None:
    ssm = platform.client("ssm")
    params = {
        p["Name"]: p["Value"]
        for page in ssm.get_paginator("get_parameters_by_path").paginate(Path="/blog/local", Recursive=True)
        for p in page["Parameters"]
    }
    assert params["/blog/local/data/buckets/raw"] == f"{PREFIX}-raw"
    assert params["/blog/local/database/secrets/prefect"].startswith("arn:aws:secretsmanager:")
    assert len(params) >= 13


def test_outputs_json_matches_the_contract(platform: LocalPlatform) -> None:
    outputs = json.loads(platform.cli("outputs", "--env", "local", "--json").stdout)
    assert outputs["DataBucketsDesignFiles"] == f"{PREFIX}-design-files"


def test_second_up_reports_no_changes_and_diff_agrees(platform: LocalPlatform) -> None:
    again = platform.cli("local", "up")
    assert "No changes: blog-local" in again.stdout
    diff = platform.cli("diff", "--env", "local", check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr


def test_emulator_log_has_no_internal_errors(platform: LocalPlatform) -> None:
    status = control.status(platform.state_dir / "emulator")
    assert control.log_problems(status.log_path) == []
