"""A failed first deploy of the whole platform leaves the account re-deployable: with prod's deletion
protection, the rollback completes and keeps no fixed-name resource, and the same deploy, run again
once the cause is gone, succeeds and ends with the protection on. Uses an emulator of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from blog_infra import operations
from blog_infra.errors import CliError
from blog_infra.target import Target, resolve
from emulator import control
from infra.config import EnvConfig, load_config

pytestmark = pytest.mark.integration

IN_THE_WAY = "/blog/local/portal/url"
"""A contract parameter the stack creates late, after the load balancer and the cluster."""


@pytest.fixture
def account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    state = tmp_path / "state"
    monkeypatch.setenv("BLOG_INFRA_STATE_DIR", str(state))
    control.start(state / "emulator")
    try:
        yield state / "emulator"
    finally:
        control.stop(state / "emulator")


def prod_like(config: EnvConfig) -> EnvConfig:
    """The local environment with prod's deletion protection of the cluster and the load balancer."""
    return config.model_copy(
        update={
            "aurora": config.aurora.model_copy(update={"deletion_protection": True}),
            "edge": config.edge.model_copy(update={"deletion_protection": True}),
        }
    )


def client(target: Target, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=target.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def platform_leftovers(target: Target) -> list[str]:
    """The fixed-name resources of the platform that exist in the account."""
    found = [
        b["Name"]
        for b in client(target, "s3").list_buckets()["Buckets"]
        if b["Name"].startswith("rocketclub-")
    ]
    found += [s["Name"] for s in client(target, "secretsmanager").list_secrets()["SecretList"]]
    repositories = client(target, "ecr").describe_repositories()["repositories"]
    found += [r["repositoryName"] for r in repositories if not r["repositoryName"].startswith("cdk-")]
    found += [g["logGroupName"] for g in client(target, "logs").describe_log_groups()["logGroups"]]
    found += [c["DBClusterIdentifier"] for c in client(target, "rds").describe_db_clusters()["DBClusters"]]
    found += [
        lb["LoadBalancerArn"] for lb in client(target, "elbv2").describe_load_balancers()["LoadBalancers"]
    ]
    parameters = client(target, "ssm").get_parameters_by_path(Path="/blog/", Recursive=True)["Parameters"]
    found += [p["Name"] for p in parameters if p["Name"] != IN_THE_WAY]
    return found


def test_a_failed_first_deploy_is_rolled_back_completely_and_a_retry_succeeds(
    account: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an empty account (bootstrapped for the CDK) in which one name the platform creates late
    # is already taken, and the local platform with prod's deletion protection
    config = prod_like(load_config("local"))
    target = resolve(config)
    operations.bootstrap(config, target)
    ssm = client(target, "ssm")
    ssm.put_parameter(Name=IN_THE_WAY, Value="created by hand", Type="String")
    offset = control.log_size(account / control.LOG_FILE)

    # WHEN the first deploy runs
    with pytest.raises(CliError) as failed:
        operations.deploy(config, target)

    # THEN it fails on that name, and CloudFormation rolls the create back completely: the stack is
    # ROLLBACK_COMPLETE (not ROLLBACK_FAILED on the protected load balancer or cluster), and no bucket,
    # secret, repository, log group, cluster, load balancer or parameter of the platform is left
    assert IN_THE_WAY in str(failed.value) or "ContractPortalUrl" in str(failed.value)
    cfn = client(target, "cloudformation")
    stack = cfn.describe_stacks(StackName=config.stack_name)["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", stack.get("StackStatusReason")
    assert platform_leftovers(target) == []

    # WHEN the cause is removed and the same deploy runs again
    ssm.delete_parameter(Name=IN_THE_WAY)
    assert operations.deploy(config, target)

    # THEN the platform is up, created in two printed steps, and ends with deletion protection on
    stack = cfn.describe_stacks(StackName=config.stack_name)["Stacks"][0]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack.get("StackStatusReason")
    printed = capsys.readouterr().out
    assert "step 1 of 2: created with deletion protection off" in printed
    assert "step 2 of 2: turning deletion protection on" in printed
    clusters = client(target, "rds").describe_db_clusters()["DBClusters"]
    assert [c["DeletionProtection"] for c in clusters] == [True]
    elbv2 = client(target, "elbv2")
    (balancer,) = elbv2.describe_load_balancers()["LoadBalancers"]
    attributes = elbv2.describe_load_balancer_attributes(LoadBalancerArn=balancer["LoadBalancerArn"])
    assert {"Key": "deletion_protection.enabled", "Value": "true"} in attributes["Attributes"]
    assert control.log_problems(account / control.LOG_FILE, offset) == []
