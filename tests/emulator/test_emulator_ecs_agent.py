"""Tasks of a cluster with an ECS agent attached behave as ECS's data plane reports them, and every
change reaches EventBridge as ECS's "ECS Task State Change" event (emulator/ecs.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.emulator.emulator_testlib import Emulator, create_stack, template

Aws = Callable[[str], Any]
pytestmark = pytest.mark.slow  # about 5 s of networks, clusters and stacks on the session's emulator


@pytest.fixture
def ecs_cleanup(aws: Aws) -> Iterator[list[str]]:
    """Task definitions the test registers: deregistered after it (the emulator is the session's)."""
    registered: list[str] = []
    yield registered
    for arn in registered:
        aws("ecs").deregister_task_definition(taskDefinition=arn)


def _post(emulator: Emulator, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(emulator.endpoint + path, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _network(aws: Aws) -> tuple[str, str]:
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"g{uuid.uuid4().hex[:8]}", Description="g", VpcId=vpc)[
        "GroupId"
    ]
    return subnet, group


def _cluster_with_observer(aws: Aws, family_prefix: str) -> tuple[str, str]:
    name = f"agent-{uuid.uuid4().hex[:8]}"
    cluster = aws("ecs").create_cluster(clusterName=name)["cluster"]["clusterArn"]
    sqs = aws("sqs")
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = aws("events")
    pattern = {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {"clusterArn": [cluster], "group": [{"prefix": f"family:{family_prefix}"}]},
    }
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return cluster, queue


def _run(aws: Aws, cluster: str, family: str, registered: list[str]) -> dict[str, Any]:
    subnet, group = _network(aws)
    ecs = aws("ecs")
    definition = ecs.register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "prefect", "image": "example:1"}],
    )["taskDefinition"]["taskDefinitionArn"]
    registered.append(definition)
    task: dict[str, Any] = ecs.run_task(
        cluster=cluster,
        taskDefinition=definition,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
    )["tasks"][0]
    return task


def _statuses(aws: Aws, queue: str) -> list[tuple[str, str]]:
    sqs = aws("sqs")
    seen = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return seen
        for message in messages:
            body = json.loads(message["Body"])
            assert (body["source"], body["detail-type"]) == ("aws.ecs", "ECS Task State Change")
            seen.append((body["detail"]["lastStatus"], body["detail"]["desiredStatus"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def test_an_agent_clusters_task_waits_runs_and_stops_only_as_the_agent_reports(
    emulator: Emulator, aws: Aws, ecs_cleanup: list[str]
) -> None:
    cluster, queue = _cluster_with_observer(aws, "prefect_")
    assert _post(emulator, "/_emulator/ecs/agent", {"cluster": cluster})[0] == 200
    task = _run(aws, cluster, "prefect_example", ecs_cleanup)
    assert task["lastStatus"] == "PROVISIONING"
    assert "exitCode" not in task["containers"][0]
    ecs = aws("ecs")
    for _ in range(6):  # moto advanced a task one state per DescribeTasks; an agent's task stays
        [described] = ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"]
    assert described["lastStatus"] == "PROVISIONING"
    report = {"cluster": cluster, "task": task["taskArn"]}
    assert _post(emulator, "/_emulator/ecs/task-state", report | {"lastStatus": "RUNNING"})[0] == 200
    ecs.stop_task(cluster=cluster, task=task["taskArn"], reason="cancelled")
    [stopping] = ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"]
    assert (stopping["lastStatus"], stopping["desiredStatus"], stopping["stopCode"]) == (
        "RUNNING",
        "STOPPED",
        "UserInitiated",
    )
    status, detail = _post(
        emulator,
        "/_emulator/ecs/task-state",
        report | {"lastStatus": "STOPPED", "containers": [{"name": "prefect", "exitCode": 143}]},
    )
    assert status == 200 and detail["containers"][0]["exitCode"] == 143
    [stopped] = ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"]
    assert stopped["lastStatus"] == "STOPPED" and stopped["containers"][0]["exitCode"] == 143
    assert stopped["stoppedReason"] == "cancelled" and "stoppedAt" in stopped
    assert _statuses(aws, queue) == [
        ("PROVISIONING", "RUNNING"),
        ("RUNNING", "RUNNING"),
        ("RUNNING", "STOPPED"),
        ("STOPPED", "STOPPED"),
    ]


def test_a_cluster_without_an_agent_keeps_motos_behaviour_and_sends_no_events(
    emulator: Emulator, aws: Aws, ecs_cleanup: list[str]
) -> None:
    cluster, queue = _cluster_with_observer(aws, "prefect_")
    task = _run(aws, cluster, "prefect_plain", ecs_cleanup)
    assert task["lastStatus"] == "RUNNING"
    stopped = aws("ecs").stop_task(cluster=cluster, task=task["taskArn"], reason="x")["task"]
    assert stopped["lastStatus"] == "STOPPED"
    assert _statuses(aws, queue) == []


def test_the_rule_routes_only_its_families_events(
    emulator: Emulator, aws: Aws, ecs_cleanup: list[str]
) -> None:
    cluster, queue = _cluster_with_observer(aws, "prefect_")
    assert _post(emulator, "/_emulator/ecs/agent", {"cluster": cluster})[0] == 200
    _run(aws, cluster, "other_family", ecs_cleanup)
    assert _statuses(aws, queue) == []


def test_impossible_reports_are_refused(emulator: Emulator, aws: Aws, ecs_cleanup: list[str]) -> None:
    cluster, _ = _cluster_with_observer(aws, "prefect_")
    _post(emulator, "/_emulator/ecs/agent", {"cluster": cluster})
    task = _run(aws, cluster, "prefect_refused", ecs_cleanup)
    report = {"cluster": cluster, "task": task["taskArn"]}
    assert _post(emulator, "/_emulator/ecs/task-state", report | {"lastStatus": "FLYING"})[0] == 400
    assert (
        _post(emulator, "/_emulator/ecs/task-state", report | {"lastStatus": "STOPPED", "stopCode": "Bored"})[
            0
        ]
        == 400
    )
    assert _post(emulator, "/_emulator/ecs/task-state", report | {"lastStatus": "STOPPED"})[0] == 200
    status, answer = _post(emulator, "/_emulator/ecs/task-state", report | {"lastStatus": "RUNNING"})
    assert status == 400 and "STOPPED already" in answer["error"]
    status, answer = _post(emulator, "/_emulator/ecs/agent", {"cluster": "not-an-arn"})
    assert status == 400 and "not a cluster ARN" in answer["error"]


def test_a_vpc_keeps_the_dns_attributes_its_template_sets(cfn: Any, aws: Aws) -> None:
    """CloudFormation applies EnableDnsHostnames; without it an awsvpc RunTask failed (HTTP 500)."""
    name = f"vpc-dns-{uuid.uuid4().hex[:8]}"
    body = template(
        {
            "Vpc": {
                "Type": "AWS::EC2::VPC",
                "Properties": {
                    "CidrBlock": "10.8.0.0/16",
                    "EnableDnsHostnames": True,
                    "EnableDnsSupport": True,
                },
            }
        },
        outputs={"VpcId": {"Ref": "Vpc"}},
    )
    stack = create_stack(cfn, name, body)
    vpc = stack["Outputs"][0]["OutputValue"]
    ec2 = aws("ec2")
    hostnames = ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsHostnames")
    assert hostnames["EnableDnsHostnames"]["Value"] is True
    cfn.delete_stack(StackName=name)
