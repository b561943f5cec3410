"""The replacement guard, against the deployed local platform: real mutations of the app that would
replace or delete a stateful resource are refused, naming each one and who saw it (our plan, the
change set CloudFormation prepared, or both), unless explicitly allowed; what is deployed goes
through the prepared change set."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_cdk import App

import infra.app
from blog_infra import operations
from blog_infra.cli import main
from blog_infra.errors import CliError
from blog_infra.exit_codes import ExitCode
from blog_infra.images import register_stand_in
from blog_infra.options import config_for
from blog_infra.target import resolve
from infra.config import EnvConfig
from infra.stack import PlatformStack
from tests.conftest import isolated_from_assembly_cache
from tests.integration.conftest import LocalPlatform

pytestmark = pytest.mark.integration

Mutation = Callable[[PlatformStack], None]


@pytest.fixture
def on_platform(platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalPlatform]:
    monkeypatch.setenv("BLOG_INFRA_STATE_DIR", str(platform.state_dir))
    yield platform


def mutate(monkeypatch: pytest.MonkeyPatch, mutation: Mutation) -> None:
    """Make `blog-infra` deploy the app with `mutation` applied to its root stack.

    The mutation is applied where the app composes its root stack, so every synthesis of the
    command (the fast one that plans and the gated one that deploys) sees it, and the gates run."""
    compose = infra.app.compose

    def mutated(app: App, config: EnvConfig, *, gates: bool) -> PlatformStack:
        stack = compose(app, config, gates=gates)
        mutation(stack)
        return stack

    monkeypatch.setattr(infra.app, "compose", mutated)
    isolated_from_assembly_cache(monkeypatch)


def empty_and_delete(s3: Any, bucket: str) -> None:
    versions = s3.list_object_versions(Bucket=bucket)
    for entry in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])
    s3.delete_bucket(Bucket=bucket)


def rename_bucket(stack: PlatformStack) -> None:
    bucket = stack.data.raw.node.default_child
    bucket.add_property_override("BucketName", "rocketclub-local-123456789012-raw-renamed")  # type: ignore[union-attr]


def rename_construct_id(stack: PlatformStack) -> None:
    stack.data.clean.node.default_child.override_logical_id("DataBucketCleanRenamed")  # type: ignore[union-attr]


def encrypt_with_another_key(stack: PlatformStack) -> None:
    cluster = stack.database.cluster.node.default_child
    cluster.add_property_override("KmsKeyId", stack.secrets.key.key_arn)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("mutation", "named"),
    [
        (rename_bucket, "DataBucketRaw (AWS::S3::Bucket, modify, replacement yes) by plan"),
        (rename_construct_id, "DataBucketClean (AWS::S3::Bucket, remove) by plan"),
        (encrypt_with_another_key, "AuroraCluster (AWS::RDS::DBCluster, modify, replacement yes) by plan"),
    ],
    ids=["bucket-name", "construct-id", "encryption-key"],
)
def test_dangerous_change_is_refused_and_nothing_is_deployed(
    on_platform: LocalPlatform,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mutation: Mutation,
    named: str,
) -> None:
    # GIVEN the deployed platform and an app change that replaces or deletes stateful data
    before = on_platform.client("cloudformation").describe_stacks(StackName="blog-local")["Stacks"][0]
    mutate(monkeypatch, mutation)
    # WHEN it is deployed without permission THEN it is refused, naming the resource, and nothing ran
    assert main(["deploy", "--env", "local"]) == ExitCode.REFUSED
    err = capsys.readouterr().err
    assert "refusing to replace or delete stateful resources" in err
    assert named in err
    after = on_platform.client("cloudformation").describe_stacks(StackName="blog-local")["Stacks"][0]
    assert after.get("LastUpdatedTime") == before.get("LastUpdatedTime")
    assert after["StackStatus"] == before["StackStatus"]


def test_the_change_set_refuses_too_and_is_deleted_unexecuted(
    on_platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the gated assembly of a bucket rename and its plan (the step after the plan's own check)
    mutate(monkeypatch, rename_bucket)
    config = config_for("local")
    target = resolve(config)
    cfn = on_platform.client("cloudformation")
    before = cfn.describe_stacks(StackName="blog-local")["Stacks"][0]
    # WHEN its change set is prepared THEN CloudFormation's view agrees with the plan's, and the
    # deploy is refused on both words
    with operations.planned(config, target) as (assembly, changes), pytest.raises(CliError) as refused:
        operations._deploy(assembly, changes, target, allow_replace=(), started=0.0)
    assert refused.value.code is ExitCode.REFUSED
    assert "DataBucketRaw (AWS::S3::Bucket, modify, replacement yes) by plan and change set" in str(
        refused.value
    )
    # AND the change set is gone, nothing executed
    assert cfn.list_change_sets(StackName="blog-local")["Summaries"] == []
    after = cfn.describe_stacks(StackName="blog-local")["Stacks"][0]
    assert (after.get("LastUpdatedTime"), after["StackStatus"]) == (
        before.get("LastUpdatedTime"),
        before["StackStatus"],
    )


def test_a_new_portal_image_goes_through_its_change_set(
    on_platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the deployed platform and a new portal image tag
    cfn, ecs = on_platform.client("cloudformation"), on_platform.client("ecs")
    config = config_for("local")
    bumped = config.model_copy(
        update={"backstage": config.backstage.model_copy(update={"image_tag": "integration-next"})}
    )

    def service_task_definition() -> str:
        (service,) = [
            r
            for r in cfn.describe_stack_resources(StackName="blog-local")["StackResources"]
            if r["ResourceType"] == "AWS::ECS::Service"
            and r["LogicalResourceId"].startswith("BackstageService")
        ]
        cluster = service["PhysicalResourceId"].split("/")[-2]
        described = ecs.describe_services(cluster=cluster, services=[service["PhysicalResourceId"]])
        return str(described["services"][0]["taskDefinition"])

    previous = service_task_definition()
    monkeypatch.setattr("blog_infra.commands.platform.config_for", lambda env: bumped)
    # WHEN it is deployed before blog_portal pushed it THEN the deploy is refused, naming the image
    assert main(["deploy", "--env", "local"]) == ExitCode.REFUSED
    assert "integration-next is not in ECR and backstage is running" in capsys.readouterr().err
    assert service_task_definition() == previous
    # WHEN blog_portal has pushed it (a stand-in manifest here) and it is deployed THEN the plan shows
    # the replaced task definition and the service updated in place, and the executed change set gives
    # the service the new task definition
    repository = cfn.describe_stack_resource(StackName="blog-local", LogicalResourceId="BackstageRepository")
    register_stand_in(
        resolve(bumped),
        repository["StackResourceDetail"]["PhysicalResourceId"],
        "integration-next",
        "blog_portal's next portal image",
    )
    assert main(["deploy", "--env", "local"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "0 to add, 2 to modify, 0 to remove, 1 replaced" in out
    current = service_task_definition()
    # a new revision of the same family (moto re-registers an updated task definition without its
    # container settings, so the image itself cannot be read back here)
    assert current != previous and current.rsplit(":", 1)[0] == previous.rsplit(":", 1)[0]
    assert cfn.list_change_sets(StackName="blog-local")["Summaries"] == []
    # AND deploying the unchanged platform again brings the previous image back
    monkeypatch.undo()
    monkeypatch.setenv("BLOG_INFRA_STATE_DIR", str(on_platform.state_dir))
    assert main(["deploy", "--env", "local"]) == ExitCode.OK
    assert main(["diff", "--env", "local"]) == ExitCode.OK


def test_diff_flags_the_dangerous_change(
    on_platform: LocalPlatform,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mutate(monkeypatch, rename_bucket)
    assert main(["diff", "--env", "local", "--json"]) == ExitCode.CHANGES
    out = capsys.readouterr().out
    assert '"dangerous": 1' in out and '"logical_id": "DataBucketRaw"' in out


def test_allowed_replacement_goes_through_and_keeps_the_old_bucket(
    on_platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a bucket rename WHEN it is explicitly allowed THEN it deploys, and the retained old
    # bucket still exists with its data
    s3 = on_platform.client("s3")
    s3.put_object(Bucket="rocketclub-local-123456789012-raw", Key="keep.txt", Body=b"data")
    mutate(monkeypatch, rename_bucket)
    assert main(["deploy", "--env", "local", "--allow-replace", "DataBucketRaw"]) == ExitCode.OK
    assert on_platform.client("cloudformation").list_change_sets(StackName="blog-local")["Summaries"] == []
    assert s3.head_bucket(Bucket="rocketclub-local-123456789012-raw-renamed")
    assert s3.get_object(Bucket="rocketclub-local-123456789012-raw", Key="keep.txt")["Body"].read() == b"data"
    # AND going back (the renamed bucket leaves) is itself a guarded change
    monkeypatch.undo()
    monkeypatch.setenv("BLOG_INFRA_STATE_DIR", str(on_platform.state_dir))
    empty_and_delete(s3, "rocketclub-local-123456789012-raw")
    assert main(["deploy", "--env", "local", "--allow-replace", "DataBucketRaw"]) == ExitCode.OK
    assert main(["diff", "--env", "local"]) == ExitCode.OK


def test_a_failing_resource_rolls_back_and_leaves_the_data(
    on_platform: LocalPlatform,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from aws_cdk import CfnResource

    s3 = on_platform.client("s3")
    s3.put_object(Bucket="rocketclub-local-123456789012-clean", Key="keep.txt", Body=b"data")

    def add_broken_resource(stack: PlatformStack) -> None:
        CfnResource(stack, "Broken", type="AWS::SSM::Parameter", properties={"Type": "String", "Value": ""})

    mutate(monkeypatch, add_broken_resource)
    assert main(["deploy", "--env", "local"]) == ExitCode.FAILED
    err = capsys.readouterr().err
    assert "deploy of blog-local failed: Broken (AWS::SSM::Parameter)" in err
    status = on_platform.client("cloudformation").describe_stacks(StackName="blog-local")["Stacks"][0]
    assert status["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert (
        s3.get_object(Bucket="rocketclub-local-123456789012-clean", Key="keep.txt")["Body"].read() == b"data"
    )
    s3.delete_object(Bucket="rocketclub-local-123456789012-clean", Key="keep.txt")
