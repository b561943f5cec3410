"""The IAM roles of the platform's ECS tasks and of the ork processor Lambda.

Each role carries only the permissions intrinsic to what it is (the Prefect worker launching flow
runs, the flow-run execution role pulling images and writing logs). Access to data (buckets,
secrets, the database) is granted by the root stack, next to the resources it opens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

ECS_TASKS = "ecs-tasks.amazonaws.com"
LAMBDA = "lambda.amazonaws.com"
PREFECT_DEFAULT_FAMILY = "prefect"
_ROLE_NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]+$")
_FAMILY = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_LOG_GROUP_NAME = re.compile(r"^[A-Za-z0-9._/#-]{1,512}$")


class RuntimeRole(StrEnum):
    """What each role is for; the value is the suffix of its name, `<role_name_prefix>-<value>`."""

    BACKSTAGE_TASK = "backstage-task"
    PREFECT_SERVER_TASK = "prefect-server-task"
    PREFECT_WORKER_TASK = "prefect-worker-task"
    FLOW_RUN_TASK = "flow-run-task"
    FLOW_RUN_EXECUTION = "flow-run-execution"
    ORK_PROCESSOR = "ork-processor"


_DESCRIPTIONS = {
    RuntimeRole.BACKSTAGE_TASK: "Task role of the Backstage portal containers.",
    RuntimeRole.PREFECT_SERVER_TASK: "Task role of the Prefect API/UI and background services.",
    RuntimeRole.PREFECT_WORKER_TASK: "Task role of the Prefect ECS worker: launches flow runs.",
    RuntimeRole.FLOW_RUN_TASK: "Task role of Prefect flow runs (blog_data pipelines).",
    RuntimeRole.FLOW_RUN_EXECUTION: "Execution role of Prefect flow runs: image pull and log delivery.",
    RuntimeRole.ORK_PROCESSOR: "Execution role of the ork processor Lambda.",
}
_MAX_SUFFIX = max(len(role.value) for role in RuntimeRole)


@dataclass(frozen=True, kw_only=True)
class RuntimeRolesProps:
    """Inputs of the runtime-roles module."""

    cluster: ecs.ICluster
    """The ECS cluster the Prefect worker may launch flow runs on (and nowhere else)."""
    role_name_prefix: str
    """Roles are named `<role_name_prefix>-<purpose>` (see `RuntimeRole`), e.g. `blog-prod-flow-run-task`."""
    flow_run_family_prefix: str = PREFECT_DEFAULT_FAMILY
    """The worker may register and run only task-definition families starting with this (Prefect's default
    family is `prefect_<work-pool>_<deployment>`)."""
    flow_run_log_group: logs.ILogGroup | None = None
    """Log group of the flow runs' awslogs driver: the execution role may write to it and the worker may
    read it (Prefect streams flow-run output). None leaves both grants to the root stack."""
    flow_run_image_repositories: tuple[ecr.IRepository, ...] = ()
    """ECR repositories the flow-run execution role may pull from; empty allows every repository of the
    stack's account and region."""
    worker_deregisters_task_definitions: bool = False
    """Allow the worker to deregister task definitions (Prefect's `auto_deregister_task_definition`). AWS
    cannot scope this action to a resource, so it would reach every task definition of the account."""
    ork_processor_log_group_name: str | None = None
    """Name of the ork processor's log group; when given, its role may write there. `OrkProcessor` grants
    write on the log group it creates itself, so this is only needed for a function built elsewhere."""


class RuntimeRoles(Construct):
    """One least-privilege role per ECS task kind and one for the ork processor Lambda."""

    def __init__(self, scope: Construct, id: str, *, props: RuntimeRolesProps) -> None:
        super().__init__(scope, id)
        _validate(props)
        stack = Stack.of(self)
        self._stack = stack

        self.roles: dict[RuntimeRole, iam.Role] = {}
        for purpose in RuntimeRole:
            principal = (
                iam.ServicePrincipal(LAMBDA)
                if purpose is RuntimeRole.ORK_PROCESSOR
                else self._ecs_tasks_principal(execution=purpose is RuntimeRole.FLOW_RUN_EXECUTION)
            )
            self.roles[purpose] = iam.Role(
                self,
                "".join(part.capitalize() for part in purpose.value.split("-")),
                role_name=f"{props.role_name_prefix}-{purpose.value}",
                assumed_by=principal,
                description=_DESCRIPTIONS[purpose],
            )

        self._flow_run_execution_permissions(props)
        self._prefect_worker_permissions(props)
        if props.ork_processor_log_group_name is not None:
            self.ork_processor.add_to_policy(
                iam.PolicyStatement(
                    sid="WriteOwnLogs",
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[
                        stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name=f"{props.ork_processor_log_group_name}:*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                )
            )

    @property
    def backstage_task(self) -> iam.Role:
        return self.roles[RuntimeRole.BACKSTAGE_TASK]

    @property
    def prefect_server_task(self) -> iam.Role:
        return self.roles[RuntimeRole.PREFECT_SERVER_TASK]

    @property
    def prefect_worker_task(self) -> iam.Role:
        return self.roles[RuntimeRole.PREFECT_WORKER_TASK]

    @property
    def flow_run_task(self) -> iam.Role:
        return self.roles[RuntimeRole.FLOW_RUN_TASK]

    @property
    def flow_run_execution(self) -> iam.Role:
        return self.roles[RuntimeRole.FLOW_RUN_EXECUTION]

    @property
    def ork_processor(self) -> iam.Role:
        return self.roles[RuntimeRole.ORK_PROCESSOR]

    def _ecs_tasks_principal(self, *, execution: bool) -> iam.IPrincipal:
        """ecs-tasks may assume the role only on behalf of this account (confused-deputy protection).

        Task roles also pin the source ARN to ECS in this account and region, as the ECS task-role
        guide recommends; the execution role keeps the account condition only.
        """
        stack = self._stack
        conditions: dict[str, dict[str, str]] = {"StringEquals": {"aws:SourceAccount": stack.account}}
        if not execution:
            source = f"arn:{stack.partition}:ecs:{stack.region}:{stack.account}:*"
            conditions["ArnLike"] = {"aws:SourceArn": source}
        return iam.ServicePrincipal(ECS_TASKS, conditions=conditions)

    def _flow_run_execution_permissions(self, props: RuntimeRolesProps) -> None:
        role = self.flow_run_execution
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EcrLogin",
                actions=["ecr:GetAuthorizationToken"],
                resources=["*"],
            )
        )
        repositories = [repo.repository_arn for repo in props.flow_run_image_repositories] or [
            self._stack.format_arn(service="ecr", resource="repository", resource_name="*")
        ]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EcrPull",
                actions=[
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                ],
                resources=repositories,
            )
        )
        if props.flow_run_log_group is not None:
            props.flow_run_log_group.grant_write(role)

    def _prefect_worker_permissions(self, props: RuntimeRolesProps) -> None:
        stack = self._stack
        role = self.prefect_worker_task
        cluster = props.cluster
        on_cluster = {"ArnEquals": {"ecs:cluster": cluster.cluster_arn}}
        task_definitions = stack.format_arn(
            service="ecs",
            resource="task-definition",
            resource_name=f"{props.flow_run_family_prefix}*:*",
        )
        tasks = stack.format_arn(service="ecs", resource="task", resource_name=f"{cluster.cluster_name}/*")

        role.add_to_policy(
            iam.PolicyStatement(
                sid="RegisterFlowRunTaskDefinitions",
                actions=["ecs:RegisterTaskDefinition"],
                resources=[task_definitions],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="RunFlowRunsOnTheCluster",
                actions=["ecs:RunTask"],
                resources=[task_definitions],
                conditions=on_cluster,
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WatchAndStopFlowRuns",
                actions=["ecs:DescribeTasks", "ecs:StopTask"],
                resources=[tasks],
                conditions=on_cluster,
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="TagOnCreate",
                actions=["ecs:TagResource"],
                resources=[tasks, task_definitions],
                conditions={"StringEquals": {"ecs:CreateAction": ["RunTask", "RegisterTaskDefinition"]}},
            )
        )
        unscoped = ["ecs:DescribeTaskDefinition"]
        if props.worker_deregisters_task_definitions:
            unscoped.append("ecs:DeregisterTaskDefinition")
        role.add_to_policy(
            iam.PolicyStatement(
                sid="TaskDefinitionsWithoutResourceLevelPermissions",
                actions=unscoped,
                resources=["*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ResolveNetworkConfiguration",
                actions=["ec2:DescribeSubnets", "ec2:DescribeVpcs"],
                resources=["*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PassOnlyFlowRunRoles",
                actions=["iam:PassRole"],
                resources=[self.flow_run_task.role_arn, self.flow_run_execution.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": ECS_TASKS}},
            )
        )
        if props.flow_run_log_group is not None:
            props.flow_run_log_group.grant(role, "logs:GetLogEvents")


def _validate(props: RuntimeRolesProps) -> None:
    prefix = props.role_name_prefix
    if not _ROLE_NAME.fullmatch(prefix):
        raise ValueError(
            f"RuntimeRoles role_name_prefix {prefix!r} may hold only letters, digits and +=,.@_- "
            "(IAM role names)"
        )
    if len(prefix) + 1 + _MAX_SUFFIX > 64:
        raise ValueError(
            f"RuntimeRoles role_name_prefix {prefix!r} makes role names over 64 characters; "
            f"use at most {63 - _MAX_SUFFIX} characters"
        )
    if not _FAMILY.fullmatch(props.flow_run_family_prefix):
        raise ValueError(
            f"RuntimeRoles flow_run_family_prefix {props.flow_run_family_prefix!r} must be 1-200 letters, "
            "digits, '-' or '_' (ECS task-definition family names)"
        )
    name = props.ork_processor_log_group_name
    if name is not None and not _LOG_GROUP_NAME.fullmatch(name):
        raise ValueError(
            f"RuntimeRoles ork_processor_log_group_name {name!r} is not a CloudWatch log group name "
            "(1-512 of letters, digits and ._/#-)"
        )
