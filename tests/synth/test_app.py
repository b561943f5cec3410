"""The whole app, per environment: tags, the consumer contract, pinned stateful ids, no secrets."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pytest

from blog_infra.planning import STATEFUL_TYPES

ENVS = ("prod", "local")
REQUIRED_TAGS = {"owner", "environment", "repository", "component"}

STATEFUL_LOGICAL_IDS = {
    "AuroraCluster": "AWS::RDS::DBCluster",
    "DatabaseKey": "AWS::KMS::Key",
    "DatabaseBackstageSecret": "AWS::SecretsManager::Secret",
    "DatabasePrefectSecret": "AWS::SecretsManager::Secret",
    "DatabasePipelinesSecret": "AWS::SecretsManager::Secret",
    "DataBucketCached": "AWS::S3::Bucket",
    "DataBucketRaw": "AWS::S3::Bucket",
    "DataBucketClean": "AWS::S3::Bucket",
    "DataBucketDesignFiles": "AWS::S3::Bucket",
    "DataAccessLogBucket": "AWS::S3::Bucket",
    "LogsKey": "AWS::KMS::Key",
    "ExternalSecretsKey": "AWS::KMS::Key",
    "Neo4jAuraSecret": "AWS::SecretsManager::Secret",
    "CloudinarySecret": "AWS::SecretsManager::Secret",
    "EdgeCloudFrontLogBucket": "AWS::S3::Bucket",
    "EdgeLoadBalancerLogBucket": "AWS::S3::Bucket",
    "BackstageRepository": "AWS::ECR::Repository",
    "BackstageAppSecret": "AWS::SecretsManager::Secret",
    "BackstageLogs": "AWS::Logs::LogGroup",
    "PrefectAuthSecret": "AWS::SecretsManager::Secret",
    "PrefectRedisAuthSecret": "AWS::SecretsManager::Secret",
    "PrefectLogs": "AWS::Logs::LogGroup",
    "PrefectFlowRunLogs": "AWS::Logs::LogGroup",
    "OrkProcessorLogs": "AWS::Logs::LogGroup",
    "AlertsKey": "AWS::KMS::Key",
    "FrontendNeo4jAuraSecret": "AWS::SecretsManager::Secret",
    "FrontendCloudinarySecret": "AWS::SecretsManager::Secret",
    "EdgeOriginVerifySecret": "AWS::SecretsManager::Secret",
}

CONTRACT_PATHS = {
    "network/vpc-id",
    "network/application-subnet-ids",
    "data/buckets/cached",
    "data/buckets/raw",
    "data/buckets/clean",
    "data/buckets/design-files",
    "database/endpoint",
    "database/port",
    "database/secrets/backstage",
    "database/secrets/prefect",
    "database/secrets/pipelines",
    "secrets/neo4j-aura",
    "secrets/cloudinary",
    "compute/cluster-arn",
    "portal/repository-uri",
    "portal/url",
    "pipelines/url",
    "pipelines/internal-api-url",
    "pipelines/auth-secret",
    "pipelines/work-pool",
    "pipelines/work-pool-job-variables",
    "ork-processor/function-name",
    "ci/plan-role-arn",
    "ci/deploy-role-arn",
    "frontend/role-arn",
    "frontend/secrets/neo4j-aura",
    "frontend/secrets/cloudinary",
}


@pytest.fixture(scope="module", params=ENVS)
def env_template(request: pytest.FixtureRequest, synthesized: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return request.param, synthesized[request.param].to_json()


@cache
def taggable(resource_type: str) -> bool:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    if resource_type.startswith("Custom::"):
        return False
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    tagging = schema.get("tagging", {})
    return bool(tagging.get("taggable", "Tags" in schema.get("properties", {})))


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    tags = resource.get("Properties", {}).get("Tags", {})
    if isinstance(tags, dict):
        return tags
    return {t["Key"]: t["Value"] for t in tags}


def test_every_taggable_resource_carries_the_ownership_tags(env_template: tuple[str, dict[str, Any]]) -> None:
    env, template = env_template
    untagged = []
    for logical_id, resource in template["Resources"].items():
        if not taggable(resource["Type"]):
            continue
        tags = tags_of(resource)
        if not set(tags) >= REQUIRED_TAGS or tags["environment"] != env:
            untagged.append(f"{logical_id} ({resource['Type']}): {sorted(tags)}")
    assert not untagged, "\n".join(untagged)


def test_stateful_resources_keep_their_pinned_logical_ids(env_template: tuple[str, dict[str, Any]]) -> None:
    _, template = env_template
    resources = template["Resources"]
    for logical_id, resource_type in STATEFUL_LOGICAL_IDS.items():
        assert resources.get(logical_id, {}).get("Type") == resource_type, (
            f"{logical_id} moved or changed type"
        )


def test_every_data_resource_is_retained_or_snapshotted(env_template: tuple[str, dict[str, Any]]) -> None:
    _, template = env_template
    data_types = STATEFUL_TYPES - {"AWS::Logs::LogGroup"}
    loose = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] in data_types
        and resource.get("DeletionPolicy") not in {"RetainExceptOnCreate", "Snapshot"}
        and resource["Type"] != "AWS::RDS::DBInstance"
    ]
    assert not loose


def test_nothing_is_kept_by_a_rolled_back_first_create(env_template: tuple[str, dict[str, Any]]) -> None:
    # GIVEN the synthesized stack WHEN its first create rolls back THEN CloudFormation keeps nothing:
    # Retain would keep a fixed-name resource (bucket, secret, repository, log group) that the retry
    # then collides with; RetainExceptOnCreate keeps it on a delete or a removal, not in that rollback
    _, template = env_template
    kept = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource.get("DeletionPolicy") == "Retain"
    ]
    assert kept == []
    replaced_away = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource.get("DeletionPolicy") == "RetainExceptOnCreate"
        and resource.get("UpdateReplacePolicy") != "Retain"
    ]
    assert replaced_away == []


def test_the_consumer_contract_is_published_as_parameters_and_outputs(
    env_template: tuple[str, dict[str, Any]],
) -> None:
    env, template = env_template
    names = {
        r["Properties"]["Name"] for r in template["Resources"].values() if r["Type"] == "AWS::SSM::Parameter"
    }
    assert names == {f"/blog/{env}/{path}" for path in CONTRACT_PATHS}
    assert len(template["Outputs"]) >= len(CONTRACT_PATHS)


def test_no_secret_value_is_in_the_template(env_template: tuple[str, dict[str, Any]]) -> None:
    _, template = env_template
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::SecretsManager::Secret":
            assert "SecretString" not in resource["Properties"], logical_id
    text = json.dumps(template)
    assert not re.search(r'"(MasterUserPassword|Password|password)"\s*:\s*"[^"{]', text)


def test_prod_protects_and_local_allows_teardown(synthesized: dict[str, Any]) -> None:
    prod = synthesized["prod"].to_json()["Resources"]["AuroraCluster"]["Properties"]
    local = synthesized["local"].to_json()["Resources"]["AuroraCluster"]["Properties"]
    assert prod["DeletionProtection"] is True and local["DeletionProtection"] is False
    assert prod["BackupRetentionPeriod"] == 14
