"""core/iam_runtime: each ECS task kind and the ork processor get their own least-privilege role."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from infra.modules.core.iam_runtime.construct import RuntimeRole, RuntimeRoles, RuntimeRolesProps
from tests.unit.helpers import new_stack

ACCOUNT = "123456789012"
ECS_TASK_ROLES = (
    RuntimeRole.BACKSTAGE_TASK,
    RuntimeRole.PREFECT_SERVER_TASK,
    RuntimeRole.PREFECT_WORKER_TASK,
    RuntimeRole.FLOW_RUN_TASK,
)


def _cluster(stack: Stack) -> ecs.ICluster:
    vpc = ec2.Vpc.from_vpc_attributes(stack, "Vpc", vpc_id="vpc-12345678", availability_zones=["us-east-1a"])
    return ecs.Cluster.from_cluster_attributes(stack, "ImportedCluster", cluster_name="blog-test", vpc=vpc)


@pytest.fixture(scope="module")
def template() -> Template:
    stack = new_stack()
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=1,
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="app", subnet_type=ec2.SubnetType.PUBLIC)],
    )
    cluster = ecs.Cluster(stack, "Cluster", vpc=vpc)
    log_group = logs.LogGroup(stack, "FlowRunLogs")
    RuntimeRoles(
        stack,
        "Runtime",
        props=RuntimeRolesProps(
            cluster=cluster,
            role_name_prefix="blog-test",
            flow_run_log_group=log_group,
            ork_processor_log_group_name="/blog/test/ork-processor",
        ),
    )
    return Template.from_stack(stack)


def _logical_id(template: Template, purpose: RuntimeRole) -> str:
    roles = template.find_resources(
        "AWS::IAM::Role", {"Properties": {"RoleName": f"blog-test-{purpose.value}"}}
    )
    assert len(roles) == 1, f"expected one role named blog-test-{purpose.value}"
    return next(iter(roles))


def _statements(template: Template, purpose: RuntimeRole) -> list[dict[str, Any]]:
    role = _logical_id(template, purpose)
    found: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _by_sid(template: Template, purpose: RuntimeRole, sid: str) -> dict[str, Any]:
    matches = [s for s in _statements(template, purpose) if s.get("Sid") == sid]
    assert len(matches) == 1, f"{purpose.value} has no single statement {sid}"
    return matches[0]


def _all_statements(template: Template) -> list[dict[str, Any]]:
    return [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


@pytest.mark.parametrize("purpose", list(RuntimeRole))
def test_every_role_is_named_after_its_purpose(template: Template, purpose: RuntimeRole) -> None:
    # GIVEN the runtime roles with prefix blog-test  THEN each role is <prefix>-<purpose>
    assert _logical_id(template, purpose)


@pytest.mark.parametrize("purpose", ECS_TASK_ROLES)
def test_task_roles_trust_ecs_tasks_of_this_account_only(template: Template, purpose: RuntimeRole) -> None:
    role = template.find_resources("AWS::IAM::Role")[_logical_id(template, purpose)]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":ecs:us-east-1:{ACCOUNT}:*"]]
    }


def test_execution_role_trusts_ecs_tasks_of_this_account(template: Template) -> None:
    role = template.find_resources("AWS::IAM::Role")[_logical_id(template, RuntimeRole.FLOW_RUN_EXECUTION)]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_ork_processor_role_trusts_lambda(template: Template) -> None:
    role = template.find_resources("AWS::IAM::Role")[_logical_id(template, RuntimeRole.ORK_PROCESSOR)]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_worker_passes_only_the_flow_run_roles_and_only_to_ecs_tasks(template: Template) -> None:
    # GIVEN the worker role  THEN iam:PassRole names exactly the two flow-run roles, for ecs-tasks only
    statement = _by_sid(template, RuntimeRole.PREFECT_WORKER_TASK, "PassOnlyFlowRunRoles")
    assert _actions(statement) == ["iam:PassRole"]
    assert sorted(statement["Resource"], key=str) == sorted(
        [
            {"Fn::GetAtt": [_logical_id(template, RuntimeRole.FLOW_RUN_EXECUTION), "Arn"]},
            {"Fn::GetAtt": [_logical_id(template, RuntimeRole.FLOW_RUN_TASK), "Arn"]},
        ],
        key=str,
    )
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    passing = [s for s in _all_statements(template) if "iam:PassRole" in _actions(s)]
    assert passing == [statement]


@pytest.mark.parametrize(
    ("sid", "actions"),
    [
        ("RunFlowRunsOnTheCluster", ["ecs:RunTask"]),
        ("WatchAndStopFlowRuns", ["ecs:DescribeTasks", "ecs:StopTask"]),
    ],
)
def test_task_actions_are_pinned_to_the_cluster(template: Template, sid: str, actions: list[str]) -> None:
    statement = _by_sid(template, RuntimeRole.PREFECT_WORKER_TASK, sid)
    assert sorted(_actions(statement)) == actions
    cluster = next(iter(template.find_resources("AWS::ECS::Cluster")))
    assert statement["Condition"] == {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": [cluster, "Arn"]}}}


def test_worker_runs_and_registers_only_the_flow_run_families(template: Template) -> None:
    families = {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, f":ecs:us-east-1:{ACCOUNT}:task-definition/prefect*:*"],
        ]
    }
    assert (
        _by_sid(template, RuntimeRole.PREFECT_WORKER_TASK, "RunFlowRunsOnTheCluster")["Resource"] == families
    )
    register = _by_sid(template, RuntimeRole.PREFECT_WORKER_TASK, "RegisterFlowRunTaskDefinitions")
    assert _actions(register) == ["ecs:RegisterTaskDefinition"]
    assert register["Resource"] == families


def test_worker_watches_only_tasks_of_the_cluster(template: Template) -> None:
    cluster = next(iter(template.find_resources("AWS::ECS::Cluster")))
    statement = _by_sid(template, RuntimeRole.PREFECT_WORKER_TASK, "WatchAndStopFlowRuns")
    assert statement["Resource"] == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, f":ecs:us-east-1:{ACCOUNT}:task/", {"Ref": cluster}, "/*"],
        ]
    }


def test_worker_tags_only_while_creating(template: Template) -> None:
    statement = _by_sid(template, RuntimeRole.PREFECT_WORKER_TASK, "TagOnCreate")
    assert _actions(statement) == ["ecs:TagResource"]
    assert statement["Condition"] == {
        "StringEquals": {"ecs:CreateAction": ["RunTask", "RegisterTaskDefinition"]}
    }


def test_unscoped_statements_hold_only_actions_aws_cannot_scope(template: Template) -> None:
    # GIVEN every policy  THEN Resource "*" carries only read or login actions without resource-level support
    allowed = {
        "ecs:DescribeTaskDefinition",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "ecr:GetAuthorizationToken",
    }
    for statement in _all_statements(template):
        if statement["Resource"] == "*":
            assert set(_actions(statement)) <= allowed, statement


def test_worker_may_not_deregister_task_definitions_by_default(template: Template) -> None:
    actions = {a for s in _statements(template, RuntimeRole.PREFECT_WORKER_TASK) for a in _actions(s)}
    assert "ecs:DeregisterTaskDefinition" not in actions
    assert "ecs:ListTaskDefinitions" not in actions


def test_no_statement_grants_a_wildcard_action(template: Template) -> None:
    for statement in _all_statements(template):
        for action in _actions(statement):
            assert action != "*" and not action.endswith(":*"), statement


def test_worker_reads_and_execution_role_writes_the_flow_run_logs(template: Template) -> None:
    log_group = {"Fn::GetAtt": [next(iter(template.find_resources("AWS::Logs::LogGroup"))), "Arn"]}
    reads = [s for s in _statements(template, RuntimeRole.PREFECT_WORKER_TASK) if s["Resource"] == log_group]
    assert [_actions(s) for s in reads] == [["logs:GetLogEvents"]]
    writes = [s for s in _statements(template, RuntimeRole.FLOW_RUN_EXECUTION) if s["Resource"] == log_group]
    assert [sorted(_actions(s)) for s in writes] == [["logs:CreateLogStream", "logs:PutLogEvents"]]


def test_execution_role_pulls_images_of_this_account_and_region(template: Template) -> None:
    statement = _by_sid(template, RuntimeRole.FLOW_RUN_EXECUTION, "EcrPull")
    assert sorted(_actions(statement)) == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    ]
    assert statement["Resource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":ecr:us-east-1:{ACCOUNT}:repository/*"]]
    }


def test_task_roles_carry_no_policy_of_their_own(template: Template) -> None:
    # The root stack grants data access; the modules add nothing to these roles.
    for purpose in (RuntimeRole.BACKSTAGE_TASK, RuntimeRole.PREFECT_SERVER_TASK, RuntimeRole.FLOW_RUN_TASK):
        assert _statements(template, purpose) == []


def test_ork_processor_writes_only_its_log_group(template: Template) -> None:
    statement = _by_sid(template, RuntimeRole.ORK_PROCESSOR, "WriteOwnLogs")
    assert sorted(_actions(statement)) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":logs:us-east-1:{ACCOUNT}:log-group:/blog/test/ork-processor:*",
            ],
        ]
    }


def test_options_scope_repositories_and_allow_deregistering() -> None:
    # GIVEN named repositories, deregistering allowed and no flow-run log group
    stack = new_stack()
    repo = ecr.Repository.from_repository_name(stack, "Repo", "blog-data-flows")
    RuntimeRoles(
        stack,
        "Runtime",
        props=RuntimeRolesProps(
            cluster=_cluster(stack),
            role_name_prefix="blog-test",
            flow_run_image_repositories=(repo,),
            worker_deregisters_task_definitions=True,
            flow_run_family_prefix="blog-flow",
        ),
    )
    template = Template.from_stack(stack)
    # THEN pulls are limited to that repository and the worker may deregister
    pull = _by_sid(template, RuntimeRole.FLOW_RUN_EXECUTION, "EcrPull")
    assert pull["Resource"] == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, f":ecr:us-east-1:{ACCOUNT}:repository/blog-data-flows"],
        ]
    }
    unscoped = _by_sid(
        template, RuntimeRole.PREFECT_WORKER_TASK, "TaskDefinitionsWithoutResourceLevelPermissions"
    )
    assert sorted(_actions(unscoped)) == ["ecs:DeregisterTaskDefinition", "ecs:DescribeTaskDefinition"]
    run = _by_sid(template, RuntimeRole.PREFECT_WORKER_TASK, "RunFlowRunsOnTheCluster")
    assert run["Resource"]["Fn::Join"][1][-1].endswith(":task-definition/blog-flow*:*")
    # AND without a log group nobody is granted logs
    for statement in _all_statements(template):
        assert not any(a.startswith("logs:") for a in _actions(statement)), statement


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"role_name_prefix": "blog test"}, "may hold only letters"),
        ({"role_name_prefix": "x" * 45}, "over 64 characters"),
        ({"flow_run_family_prefix": "prefect:*"}, "flow_run_family_prefix"),
        ({"ork_processor_log_group_name": "bad name"}, "not a CloudWatch log group name"),
    ],
)
def test_rejects_invalid_props(changes: dict[str, Any], message: str) -> None:
    stack = new_stack()
    props: dict[str, Any] = {"cluster": _cluster(stack), "role_name_prefix": "blog-test"} | changes
    with pytest.raises(ValueError, match=message):
        RuntimeRoles(stack, "Runtime", props=RuntimeRolesProps(**props))
