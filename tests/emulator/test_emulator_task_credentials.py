"""A task the ECS agent runs gets its task role's session, and its secrets read with its execution role,
through the sandbox's credentials endpoint (blog_infra.sandbox.credentials) and the emulator's STS."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.credentials import ContainerProvider

from blog_infra.sandbox import images
from blog_infra.sandbox.agent import EcsAgent
from blog_infra.sandbox.credentials import FULL_URI
from blog_infra.sandbox.platform import Emulator as SandboxEmulator
from blog_infra.sandbox.platform import SandboxPlatform
from blog_infra.sandbox.tls import CertificateAuthority
from emulator import control
from tests.emulator.emulator_testlib import REGION, Emulator

Aws = Callable[[str], Any]
ACCOUNT = "123456789012"
IMAGE = "blog-data-flows:local"
REQUIREMENTS = Path(__file__).resolve().parents[2] / "examples" / "pipelines" / "requirements.txt"
PRINT_IDENTITY = (
    "import os, boto3; "
    "print('ARN', boto3.client('sts').get_caller_identity()['Arn']); "
    "print('KEYS', sorted(k for k in os.environ if k.startswith('AWS_'))); "
    "print('SECRET', os.environ.get('DB_PASSWORD'))"
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox's containers need root"),
]


@pytest.fixture
def workdir() -> Iterator[Path]:
    """Outside /tmp (each container mounts its own /tmp), world-traversable."""
    directory = Path(tempfile.mkdtemp(prefix="blog-infra-task-credentials-", dir="/var/tmp"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _role(iam: Any, service: str) -> str:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:*"},
        },
    }
    document = {"Version": "2012-10-17", "Statement": [statement]}
    name = f"flow-run-{uuid.uuid4().hex[:10]}"
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(document))["Role"]["Arn"])


def _network(aws: Aws) -> dict[str, Any]:
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"g{uuid.uuid4().hex[:8]}", Description="g", VpcId=vpc)
    return {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group["GroupId"]]}}


def _finished(agent: EcsAgent, arn: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while arn not in agent.finished:
        assert time.monotonic() < deadline, f"{arn} did not stop within {timeout:.0f} s"
        time.sleep(0.2)
    return agent.finished[arn]


def test_a_flow_run_gets_its_task_roles_session_and_an_untrusting_role_stops_it(
    emulator: Emulator, aws: Aws, workdir: Path, set_mode: Callable[[str], None]
) -> None:
    # GIVEN a task definition with a task role and an execution role that trust ECS, and a secret and
    # a log group that only the execution role may use, as CDK grants them
    iam, ecs = aws("iam"), aws("ecs")
    task_role, execution_role = _role(iam, "ecs-tasks.amazonaws.com"), _role(iam, "ecs-tasks.amazonaws.com")
    secret = aws("secretsmanager").create_secret(
        Name=f"flow-{uuid.uuid4().hex[:8]}", SecretString=json.dumps({"password": "s3cret-value"})
    )["ARN"]
    cluster = ecs.create_cluster(clusterName=f"creds-{uuid.uuid4().hex[:8]}")["cluster"]["clusterArn"]
    group = f"/flow-runs/{uuid.uuid4().hex[:8]}"
    aws("logs").create_log_group(logGroupName=group)
    execution_grants = [
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": secret,
        },
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*",
        },
    ]
    iam.put_role_policy(
        RoleName=execution_role.rsplit("/", 1)[1],
        PolicyName="execution",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": execution_grants}),
    )
    set_mode("enforce")
    definition = ecs.register_task_definition(
        family=f"flow-{uuid.uuid4().hex[:8]}",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        taskRoleArn=task_role,
        executionRoleArn=execution_role,
        containerDefinitions=[
            {
                "name": "prefect",
                "image": IMAGE,
                "command": ["python", "-c", PRINT_IDENTITY],
                "secrets": [{"name": "DB_PASSWORD", "valueFrom": f"{secret}:password::"}],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": group, "awslogs-stream-prefix": "flow-run"},
                },
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    keys = control.client_environment(emulator.endpoint, REGION)
    platform = SandboxPlatform(
        {"Resources": {}},
        account=ACCOUNT,
        region=REGION,
        workdir=workdir,
        ca=CertificateAuthority(workdir / "ca"),
        emulator=SandboxEmulator(emulator.endpoint, keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"]),
    )
    model = images.from_requirements(IMAGE, REQUIREMENTS)
    untrusting = _role(iam, "lambda.amazonaws.com")
    network = _network(aws)
    with (
        platform,
        EcsAgent(platform, cluster_arn=cluster, models={IMAGE: model}, poll=0.2, log=lambda _: None) as agent,
    ):
        # WHEN a flow run starts, as the Prefect worker starts it (RunTask)
        arn = ecs.run_task(
            cluster=cluster, taskDefinition=definition, launchType="FARGATE", networkConfiguration=network
        )["tasks"][0]["taskArn"]
        stopped = _finished(agent, arn)
        task_id = arn.rsplit("/", 1)[1]
        output = (workdir / "tasks" / f"task-{task_id}.log").read_text()
        # THEN its SDK found the task role's session, named by the task's id, through the endpoint only
        role_name = task_role.rsplit("/", 1)[1]
        assert f"ARN arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{task_id}" in output, output
        assert "AWS_ACCESS_KEY_ID" not in output and "AWS_CONTAINER_CREDENTIALS_FULL_URI" in output
        assert "SECRET s3cret-value" in output
        assert stopped["containers"][0]["exitCode"] == 0
        # AND its output reached its log group, copied with the execution role's session
        events = aws("logs").filter_log_events(logGroupName=group)["events"]
        assert any(event["message"].startswith("ARN arn:aws:sts::") for event in events)
        record = json.loads((workdir / "tasks" / f"task-{task_id}.json").read_text())
        assert record["taskRoleArn"] == task_role and record["executionRoleArn"] == execution_role
        record_text = json.dumps(record)
        assert "AWS_CONTAINER_AUTHORIZATION_TOKEN" in record["environment"]
        assert platform.credentials is not None
        assert not any(token in record_text for token in _served_tokens(platform))

        # WHEN a run overrides the task role with one that trusts only Lambda
        refused = ecs.run_task(
            cluster=cluster,
            taskDefinition=definition,
            launchType="FARGATE",
            networkConfiguration=network,
            overrides={"taskRoleArn": untrusting},
        )["tasks"][0]["taskArn"]
        failed = _finished(agent, refused)
        # THEN it stops before it starts, with ECS's reason
        assert failed["stopCode"] == "TaskFailedToStart"
        assert failed["stoppedReason"].startswith(f"ECS was unable to assume the role '{untrusting}'")

        # WHEN the execution role loses its grant on the secret
        iam.delete_role_policy(RoleName=execution_role.rsplit("/", 1)[1], PolicyName="execution")
        unpulled = ecs.run_task(
            cluster=cluster, taskDefinition=definition, launchType="FARGATE", networkConfiguration=network
        )["tasks"][0]["taskArn"]
        failed = _finished(agent, unpulled)
        # THEN the task cannot start, with ECS's reason and Secrets Manager's refusal
        assert failed["stopCode"] == "TaskFailedToStart"
        assert failed["stoppedReason"].startswith("ResourceInitializationError: unable to pull secrets")
        assert "secretsmanager:GetSecretValue" in failed["stoppedReason"]


def _served_tokens(platform: SandboxPlatform) -> list[str]:
    assert platform.credentials is not None
    return [served.token for served in platform.credentials._served.values()]


def test_a_service_container_gets_its_task_roles_endpoint_and_its_secrets_through_its_execution_role(
    emulator: Emulator, aws: Aws, workdir: Path
) -> None:
    # GIVEN a deployed service's task definition with both roles and a secret, the secret in the emulator
    # and readable by the execution role alone
    iam = aws("iam")
    task_role, execution_role = _role(iam, "ecs-tasks.amazonaws.com"), _role(iam, "ecs-tasks.amazonaws.com")
    secret = aws("secretsmanager").create_secret(
        Name=f"api-{uuid.uuid4().hex[:8]}", SecretString=json.dumps({"password": "s3cret-value"})
    )["ARN"]
    grant = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret}
    iam.put_role_policy(
        RoleName=execution_role.rsplit("/", 1)[1],
        PolicyName="execution",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [grant]}),
    )
    template = {
        "Resources": {
            "TaskRole": {"Type": "AWS::IAM::Role", "Properties": {}},
            "ExecutionRole": {"Type": "AWS::IAM::Role", "Properties": {}},
            "Api": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "TaskRoleArn": {"Fn::GetAtt": ["TaskRole", "Arn"]},
                    "ExecutionRoleArn": {"Fn::GetAtt": ["ExecutionRole", "Arn"]},
                    "ContainerDefinitions": [
                        {
                            "Name": "api",
                            "Image": "prefecthq/prefect:3.9.1-python3.12",
                            "Secrets": [{"Name": "DB_PASSWORD", "ValueFrom": f"{secret}:password::"}],
                        },
                        {"Name": "sidecar", "Image": "prefecthq/prefect:3.9.1-python3.12"},
                    ],
                },
            },
        }
    }
    keys = control.client_environment(emulator.endpoint, REGION)
    with SandboxPlatform(
        template,
        account=ACCOUNT,
        region=REGION,
        workdir=workdir,
        ca=CertificateAuthority(workdir / "ca"),
        emulator=SandboxEmulator(emulator.endpoint, keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"]),
        overrides={
            "TaskRole": task_role.rsplit("/", 1)[1],
            "ExecutionRole": execution_role.rsplit("/", 1)[1],
        },
        secrets_in_emulator=True,
    ) as platform:
        # WHEN the sandbox makes the service's containers as ECS would
        api, sidecar = platform.spec("Api", "api"), platform.spec("Api", "sidecar")
        # THEN each has an endpoint and token of its own and no keys, and the secret was retrieved
        assert api.environment["DB_PASSWORD"] == "s3cret-value"
        for spec in (api, sidecar):
            assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(spec.environment)
            assert spec.environment["AWS_ENDPOINT_URL"] == emulator.endpoint
        assert api.environment[FULL_URI] != sidecar.environment[FULL_URI]
        # AND botocore's ECS provider with the container's environment is the task role's session
        loaded = ContainerProvider(environ=dict(api.environment)).load()
        frozen = loaded.get_frozen_credentials()
        sts = boto3.client(
            "sts",
            endpoint_url=emulator.endpoint,
            region_name=REGION,
            aws_access_key_id=frozen.access_key,
            aws_secret_access_key=frozen.secret_key,
            aws_session_token=frozen.token,
        )
        arn = sts.get_caller_identity()["Arn"]
        assert arn.startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/{task_role.rsplit('/', 1)[1]}/")
