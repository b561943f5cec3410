"""The rollback of a failed first create, as CloudFormation does it: reverse order, DeletionPolicy as a
rollback applies it, deletion protection that blocks it, and the account shape in which an ECS
service whose image is not in ECR fails."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator import control
from emulator.shape import EmulatorShape
from tests.emulator.emulator_testlib import REGION, Emulator, describe, template

pytestmark = pytest.mark.slow  # failed creates and their rollbacks on an emulator: about 6 s in all

Aws = Callable[[str], Any]

ACCOUNT = control.ACCOUNT_ID
MISSING_SECRET = "{{resolve:secretsmanager:rollback-never-created}}"


def failing_last(resources: dict[str, Any]) -> dict[str, Any]:
    """`resources` plus one that fails after all of them were created (a dynamic reference to a
    secret that does not exist)."""
    return {
        **resources,
        "Failing": {
            "Type": "AWS::SSM::Parameter",
            "DependsOn": sorted(resources),
            "Properties": {"Type": "String", "Value": MISSING_SECRET},
        },
    }


def create(cfn: Any, name: str, body: str) -> dict[str, Any]:
    cfn.create_stack(StackName=name, TemplateBody=body)
    return describe(cfn, name)


def events(cfn: Any, name: str) -> list[tuple[str, str]]:
    found = cfn.describe_stack_events(StackName=name)["StackEvents"]
    return [(e["LogicalResourceId"], e["ResourceStatus"]) for e in found]


def bucket_exists(s3: Any, name: str) -> bool:
    try:
        s3.head_bucket(Bucket=name)
    except ClientError:
        return False
    return True


def cluster(identifier: str, **properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::RDS::DBCluster",
        "Properties": {
            "DBClusterIdentifier": identifier,
            "Engine": "aurora-postgresql",
            "EngineVersion": "16.4",
            "MasterUsername": "platform",
            "MasterUserPassword": "not-a-real-password-1",
            **properties,
        },
    }


def test_rollback_of_a_failed_create_honours_each_deletion_policy(cfn: Any, aws: Aws) -> None:
    # GIVEN a first create whose last resource fails, after resources of each DeletionPolicy were made
    tag = uuid.uuid4().hex[:8]
    names = {policy: f"rollback-{policy.lower()}-{tag}" for policy in ("Delete", "Retain", "Except")}
    secret_name = f"rollback/{tag}/secret"
    cluster_id = f"rollback-snapshot-{tag}"
    resources = {
        "DeletedBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": names["Delete"]}},
        "RetainedBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "Properties": {"BucketName": names["Retain"]},
        },
        "ExceptOnCreateBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "RetainExceptOnCreate",
            "UpdateReplacePolicy": "Retain",
            "Properties": {"BucketName": names["Except"]},
        },
        "ExceptOnCreateSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "DeletionPolicy": "RetainExceptOnCreate",
            "Properties": {"Name": secret_name, "SecretString": "placeholder"},
        },
        "Cluster": {**cluster(cluster_id), "DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Retain"},
    }
    body = template(failing_last(resources))

    # WHEN it is created
    stack = create(cfn, f"rollback-policies-{tag}", body)

    # THEN it rolls back completely: Delete and RetainExceptOnCreate are deleted, Retain is kept and
    # leaves the stack, Snapshot leaves a final snapshot of the deleted cluster
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", stack.get("StackStatusReason")
    assert "Failing" in stack["StackStatusReason"]
    s3 = aws("s3")
    assert not bucket_exists(s3, names["Delete"])
    assert not bucket_exists(s3, names["Except"])
    assert bucket_exists(s3, names["Retain"])
    rds = aws("rds")
    assert cluster_id not in [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]]
    snapshots = rds.describe_db_cluster_snapshots(DBClusterIdentifier=cluster_id)["DBClusterSnapshots"]
    assert len([s for s in snapshots if not s["DBClusterSnapshotIdentifier"].startswith("rds:")]) == 1
    happened = events(cfn, f"rollback-policies-{tag}")
    assert ("RetainedBucket", "DELETE_SKIPPED") in happened
    assert ("ExceptOnCreateBucket", "DELETE_COMPLETE") in happened
    assert cfn.list_stack_resources(StackName=f"rollback-policies-{tag}")["StackResourceSummaries"] == []
    # AND the secret CloudFormation deleted (without a recovery window) can be created again at once
    aws("secretsmanager").create_secret(Name=secret_name, SecretString="again")
    aws("secretsmanager").delete_secret(SecretId=secret_name, ForceDeleteWithoutRecovery=True)

    # WHEN the same template is created again
    again = create(cfn, f"rollback-policies-again-{tag}", template(resources))

    # THEN only the retained bucket is in the way, as on AWS
    assert again["StackStatus"] == "ROLLBACK_COMPLETE", again.get("StackStatusReason")
    assert "RetainedBucket" in again["StackStatusReason"]
    assert "already" in again["StackStatusReason"].lower()
    assert not bucket_exists(s3, names["Except"])


def load_balancer(subnets: list[str]) -> dict[str, Any]:
    return {
        "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "Properties": {
            "Scheme": "internal",
            "Subnets": [{"Ref": s} for s in subnets],
            "LoadBalancerAttributes": [{"Key": "deletion_protection.enabled", "Value": "true"}],
        },
    }


NETWORK = {
    "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.40.0.0/16"}},
    "SubnetA": {
        "Type": "AWS::EC2::Subnet",
        "Properties": {
            "VpcId": {"Ref": "Vpc"},
            "CidrBlock": "10.40.0.0/24",
            "AvailabilityZone": "us-east-1a",
        },
    },
    "SubnetB": {
        "Type": "AWS::EC2::Subnet",
        "Properties": {
            "VpcId": {"Ref": "Vpc"},
            "CidrBlock": "10.40.1.0/24",
            "AvailabilityZone": "us-east-1b",
        },
    },
}


def test_deletion_protection_of_a_load_balancer_ends_the_rollback_in_rollback_failed(
    cfn: Any, aws: Aws
) -> None:
    # GIVEN a first create that fails after a load balancer with deletion protection was made
    name = f"rollback-protected-lb-{uuid.uuid4().hex[:8]}"
    body = template(failing_last({**NETWORK, "Balancer": load_balancer(["SubnetA", "SubnetB"])}))

    # WHEN it is created
    stack = create(cfn, name, body)

    # THEN the rollback cannot delete the load balancer: ROLLBACK_FAILED, naming it and why
    assert stack["StackStatus"] == "ROLLBACK_FAILED", stack.get("StackStatusReason")
    reason = stack["StackStatusReason"]
    assert "Balancer" in reason and "deletion protection is enabled" in reason
    assert "Failing" in reason
    elbv2 = aws("elbv2")
    arn = cfn.describe_stack_resource(StackName=name, LogicalResourceId="Balancer")["StackResourceDetail"][
        "PhysicalResourceId"
    ]
    assert elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
    assert ("Balancer", "DELETE_FAILED") in events(cfn, name)
    assert ("SubnetA", "DELETE_COMPLETE") not in events(cfn, name)

    # WHEN the operator turns the protection off and deletes the stack
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}]
    )
    stack_id = stack["StackId"]
    cfn.delete_stack(StackName=name)

    # THEN everything is gone
    assert describe(cfn, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert arn not in [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]]


def test_deletion_protection_of_a_cluster_ends_the_rollback_in_rollback_failed(cfn: Any, aws: Aws) -> None:
    # GIVEN a first create that fails after an Aurora cluster with deletion protection was made
    tag = uuid.uuid4().hex[:8]
    body = template(
        failing_last({"Cluster": {**cluster(f"rollback-protected-{tag}", DeletionProtection=True)}})
    )

    # WHEN it is created
    stack = create(cfn, f"rollback-protected-db-{tag}", body)

    # THEN the rollback cannot delete the cluster: ROLLBACK_FAILED, naming it and why
    assert stack["StackStatus"] == "ROLLBACK_FAILED", stack.get("StackStatusReason")
    assert "Cluster (AWS::RDS::DBCluster)" in stack["StackStatusReason"]
    assert "deletion protection" in stack["StackStatusReason"]
    clusters = aws("rds").describe_db_clusters()["DBClusters"]
    assert f"rollback-protected-{tag}" in [c["DBClusterIdentifier"] for c in clusters]


def test_load_balancer_attributes_are_applied_and_updated_in_place(cfn: Any, aws: Aws) -> None:
    # GIVEN a stack with a load balancer whose deletion protection is off
    name = f"rollback-lb-attributes-{uuid.uuid4().hex[:8]}"
    unprotected = load_balancer(["SubnetA", "SubnetB"])
    unprotected["Properties"]["LoadBalancerAttributes"] = [
        {"Key": "deletion_protection.enabled", "Value": "false"},
        {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
    ]
    cfn.create_stack(StackName=name, TemplateBody=template({**NETWORK, "Balancer": unprotected}))
    assert describe(cfn, name)["StackStatus"] == "CREATE_COMPLETE"
    arn = cfn.describe_stack_resource(StackName=name, LogicalResourceId="Balancer")["StackResourceDetail"][
        "PhysicalResourceId"
    ]
    elbv2 = aws("elbv2")

    def attributes() -> dict[str, str]:
        found = elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
        return {a["Key"]: a["Value"] for a in found}

    assert attributes()["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes()["deletion_protection.enabled"] == "false"

    # WHEN an update turns the protection on
    cfn.update_stack(
        StackName=name, TemplateBody=template({**NETWORK, "Balancer": load_balancer(["SubnetA", "SubnetB"])})
    )

    # THEN the same load balancer is protected, and a stack delete cannot remove it
    assert describe(cfn, name)["StackStatus"] == "UPDATE_COMPLETE"
    assert attributes()["deletion_protection.enabled"] == "true"
    cfn.delete_stack(StackName=name)
    assert describe(cfn, name)["StackStatus"] == "DELETE_FAILED"
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}]
    )
    cfn.delete_stack(StackName=name)


# --- the account shape in which images must be in ECR ------------------------------------------

IMAGE_SHAPE = EmulatorShape(ecs_images_in_ecr=True)


@pytest.fixture(scope="module")
def strict_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    state_dir = tmp_path_factory.mktemp("emulator-images-in-ecr")
    status = control.start(state_dir, shape=IMAGE_SHAPE)
    assert status.endpoint
    try:
        yield Emulator(state_dir=state_dir, endpoint=status.endpoint, log_path=status.log_path)
    finally:
        control.stop(state_dir)


def service_template(image: str, desired: int = 1) -> str:
    return template(
        {
            "Cluster": {"Type": "AWS::ECS::Cluster"},
            "Task": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": "rollback-portal",
                    "ContainerDefinitions": [{"Name": "web", "Image": image, "Memory": 512}],
                },
            },
            "Service": {
                "Type": "AWS::ECS::Service",
                "Properties": {
                    "Cluster": {"Ref": "Cluster"},
                    "TaskDefinition": {"Ref": "Task"},
                    "DesiredCount": desired,
                },
            },
        }
    )


MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1,
            "digest": "sha256:0",
        },
        "layers": [],
    }
)


def test_a_service_whose_image_is_not_in_ecr_fails_in_the_images_in_ecr_shape(
    strict_emulator: Emulator,
) -> None:
    offset = control.log_size(strict_emulator.log_path)
    cfn = strict_emulator.client("cloudformation")
    ecr = strict_emulator.client("ecr")
    repository = f"rollback-portal-{uuid.uuid4().hex[:6]}"
    ecr.create_repository(repositoryName=repository)
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}:1.0.0"

    # GIVEN an account whose ECR has the repository but not the tag the service runs
    # WHEN the service is created
    first = create(cfn, "rollback-image-missing", service_template(image))

    # THEN the deployment fails as the circuit breaker fails it, and the stack rolls back
    assert first["StackStatus"] == "ROLLBACK_COMPLETE", first.get("StackStatusReason")
    reason = first["StackStatusReason"]
    assert "Service (AWS::ECS::Service)" in reason and "Circuit Breaker" in reason
    assert f"{repository}:1.0.0 not found" in reason
    # AND an image from outside ECR fails alike, while a service at zero tasks needs no image
    outside = create(cfn, "rollback-image-hub", service_template("prefecthq/prefect:3-python3.12"))
    assert outside["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "not in an ECR repository" in outside["StackStatusReason"]
    idle = create(cfn, "rollback-image-idle", service_template(image, desired=0))
    assert idle["StackStatus"] == "CREATE_COMPLETE", idle.get("StackStatusReason")

    # WHEN the image is pushed and the create is tried again
    ecr.put_image(repositoryName=repository, imageManifest=MANIFEST, imageTag="1.0.0")
    cfn.delete_stack(StackName="rollback-image-missing")
    retried = create(cfn, "rollback-image-missing", service_template(image))

    # THEN it succeeds
    assert retried["StackStatus"] == "CREATE_COMPLETE", retried.get("StackStatusReason")
    assert control.log_problems(strict_emulator.log_path, offset) == []


def test_the_default_shape_refuses_an_image_no_registry_here_holds(cfn: Any) -> None:
    # GIVEN the default account shape (as strict as AWS); WHEN a service runs an image no registry here holds
    stack = create(cfn, f"rollback-image-default-{uuid.uuid4().hex[:6]}", service_template("nowhere/x:1"))
    # THEN its creation fails through the circuit breaker and the stack rolls back
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", stack.get("StackStatusReason")
    assert "CannotPullContainerError" in str(stack.get("StackStatusReason"))


def test_an_emulator_of_another_shape_is_not_reused(strict_emulator: Emulator) -> None:
    # GIVEN an emulator running with the images-in-ECR shape
    # WHEN one is asked for with a lenient shape in the same state dir
    with pytest.raises(control.EmulatorError) as refused:
        control.start(strict_emulator.state_dir, shape=EmulatorShape(ecs_images_in_ecr=False))
    # THEN it is refused, naming both shapes; asking without a shape reuses the running one
    assert "ecs_images_in_ecr" in str(refused.value) and "stop it first" in str(refused.value)
    assert control.start(strict_emulator.state_dir).endpoint == strict_emulator.endpoint
    assert control.running_shape(strict_emulator.state_dir) == IMAGE_SHAPE


def test_a_shape_file_with_an_unknown_field_is_refused(tmp_path: Path) -> None:
    # GIVEN a shape file naming a field that does not exist
    path = tmp_path / "shape.json"
    path.write_text('{"ecs_images_in_ecr": true, "no_such_fact": 1}', encoding="utf-8")
    # WHEN it is read THEN the error names the file and the field
    with pytest.raises(ValueError, match="no_such_fact"):
        EmulatorShape.read(path)
