"""Building blocks shared by the platform's Fargate applications (Backstage, Prefect).

Every application task runs as a non-root user on a read-only root filesystem with a tmpfs scratch
space at `/tmp`, logs to its own retained log group, sits in its own security group in private
subnets without a public IP, and deploys with a rolling update guarded by a rollback circuit
breaker. These helpers keep those decisions in one place.
"""

from __future__ import annotations

import re
from typing import cast

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import FARGATE_TASK_SIZES
from infra.modules.stateful import pin_logical_id

NON_ROOT_USER = "1000:1000"
"""uid:gid the application containers run as (the `node` user of Node images; no passwd entry needed)."""
SCRATCH_PATH = "/tmp"
"""The only writable path of an application container: a tmpfs, world-writable with the sticky bit."""
FARGATE_SPOT = "FARGATE_SPOT"
"""The capacity provider of Spot tasks; the shared cluster registers it (core/ecs_cluster)."""
FARGATE_LINUX_ARCHITECTURES = ("X86_64", "ARM64")
"""CPU architectures of Linux Fargate tasks; Fargate Spot takes both."""

DEREGISTRATION_DELAY = Duration.seconds(30)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_SECRET_LOOKING = ("PASSWORD", "SECRET", "TOKEN", "AUTH_STRING", "CONNECTION_URL")


def validate_fargate_size(cpu: int, memory_mib: int, *, what: str) -> None:
    """Raise ValueError unless `cpu`/`memory_mib` is a combination Fargate accepts."""
    if cpu not in FARGATE_TASK_SIZES:
        raise ValueError(
            f"{what} cpu {cpu} is not a Fargate size: one of {', '.join(map(str, FARGATE_TASK_SIZES))}"
        )
    allowed = FARGATE_TASK_SIZES[cpu]
    if memory_mib not in allowed:
        shown = (
            f"{allowed[0]}-{allowed[-1]} MiB in steps of {allowed[1] - allowed[0]}"
            if len(allowed) > 3
            else f"{', '.join(map(str, allowed))} MiB"
        )
        raise ValueError(f"{what} memory_mib {memory_mib} does not fit cpu {cpu}: Fargate allows {shown}")


def validate_image_tag(tag: str, *, allow_latest: bool, what: str) -> None:
    """Raise ValueError unless `tag` is a Docker tag, and not `latest` unless allowed."""
    if not _TAG.fullmatch(tag):
        raise ValueError(f"{what} image tag {tag!r} is not a Docker tag (letters, digits, '_', '.', '-')")
    if tag == "latest" and not allow_latest:
        raise ValueError(
            f"{what} image tag 'latest' is refused: pin the tag that was pushed "
            "(allow_latest is meant for the local emulator only)"
        )


def validate_pinned_image(image: str, *, what: str) -> None:
    """Raise ValueError unless `image` names an explicit tag (not `latest`) or a digest."""
    name, at, digest = image.partition("@")
    if at:
        if not name or not _DIGEST.fullmatch(digest):
            raise ValueError(f"{what} image {image!r} has an invalid digest; expected name@sha256:<64 hex>")
        return
    repository, colon, tag = image.rpartition(":")
    if not colon or not repository or "/" in tag:
        raise ValueError(
            f"{what} image {image!r} has no tag; pin one, e.g. prefecthq/prefect:3.9.1-python3.12"
        )
    validate_image_tag(tag, allow_latest=False, what=f"{what} {repository}")


def validate_https_url(url: str, *, what: str) -> None:
    """Raise ValueError unless `url` is an https origin such as https://portal.example.com."""
    if not re.fullmatch(r"https://[a-z0-9.-]+(:\d+)?", url):
        raise ValueError(f"{what} {url!r} must be an https origin without path or trailing slash")


def validate_secret_name_prefix(prefix: str, *, what: str) -> None:
    """Raise ValueError unless `prefix` can start a Secrets Manager name."""
    if not prefix or prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(
            f"{what} secret_name_prefix {prefix!r} must be non-empty without leading or trailing '/'"
        )


def assert_no_plain_secrets(environment: dict[str, str]) -> None:
    """Refuse plain environment variables whose names say they carry a secret."""
    for name in environment:
        if any(marker in name.upper() for marker in _SECRET_LOOKING):
            raise ValueError(
                f"{name} looks like a secret; pass it as an ECS secret, never as plain environment"
            )


def subnet_ids(vpc: ec2.IVpc, selection: ec2.SubnetSelection) -> list[str]:
    """The ids of the subnets `selection` picks in `vpc`."""
    return vpc.select_subnets(
        availability_zones=selection.availability_zones,
        one_per_az=selection.one_per_az,
        subnet_filters=selection.subnet_filters,
        subnet_group_name=selection.subnet_group_name,
        subnet_type=selection.subnet_type,
        subnets=selection.subnets,
    ).subnet_ids


def scratch_space(scope: Construct, id: str, *, size_mib: int, allow_exec: bool) -> ecs.LinuxParameters:
    """A tmpfs at /tmp: the writable space of a container whose root filesystem is read-only.

    tmpfs (not a Fargate bind mount) because bind mounts are owned by root, which a non-root user
    cannot write to; a tmpfs root directory is world-writable with the sticky bit. `allow_exec` is
    needed where Python extension modules are installed into the scratch space at start.
    """
    options = [ecs.TmpfsMountOption.RW, ecs.TmpfsMountOption.NOSUID, ecs.TmpfsMountOption.NODEV]
    if not allow_exec:
        options.append(ecs.TmpfsMountOption.NOEXEC)
    parameters = ecs.LinuxParameters(scope, id, init_process_enabled=True)
    parameters.add_tmpfs(ecs.Tmpfs(container_path=SCRATCH_PATH, size=size_mib, mount_options=options))
    parameters.drop_capabilities(ecs.Capability.ALL)
    return parameters


def retained_log_group(
    scope: Construct,
    id: str,
    *,
    retention: logs.RetentionDays,
    logical_id: str,
    encryption_key: kms.IKey | None = None,
) -> logs.LogGroup:
    """A log group with retention that outlives the stack, under a pinned logical id."""
    group = logs.LogGroup(
        scope,
        id,
        retention=retention,
        removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        encryption_key=encryption_key,
    )
    pin_logical_id(group, logical_id)
    return group


def aws_logs(log_group: logs.ILogGroup, stream_prefix: str) -> ecs.LogDriver:
    """CloudWatch logging that never blocks the application when the log API is slow."""
    return ecs.LogDrivers.aws_logs(
        stream_prefix=stream_prefix,
        log_group=log_group,
        mode=ecs.AwsLogDriverMode.NON_BLOCKING,
        max_buffer_size=Size.mebibytes(25),
    )


def task_definition(
    scope: Construct,
    id: str,
    *,
    cpu: int,
    memory_mib: int,
    task_role: iam.IRole,
    cpu_architecture: ecs.CpuArchitecture = ecs.CpuArchitecture.X86_64,
) -> ecs.FargateTaskDefinition:
    """A Linux Fargate task definition for `cpu_architecture` (x86-64 unless told); CDK creates its
    execution role. Raises ValueError for an architecture Linux Fargate tasks cannot run on (such as
    `ecs.CpuArchitecture.of("arm64")`, which CloudFormation would refuse only at deploy time)."""
    definition = ecs.FargateTaskDefinition(
        scope,
        id,
        cpu=cpu,
        memory_limit_mib=memory_mib,
        task_role=task_role,
        runtime_platform=ecs.RuntimePlatform(
            operating_system_family=ecs.OperatingSystemFamily.LINUX,
            cpu_architecture=cpu_architecture,
        ),
    )
    platform = cast(ecs.CfnTaskDefinition, definition.node.default_child).runtime_platform
    name = (
        platform.cpu_architecture
        if isinstance(platform, ecs.CfnTaskDefinition.RuntimePlatformProperty)
        else None
    )
    if name not in FARGATE_LINUX_ARCHITECTURES:
        raise ValueError(
            f"{definition.node.path}: cpu_architecture {name!r} is not one Linux Fargate tasks run on: "
            "use ecs.CpuArchitecture.X86_64 or ecs.CpuArchitecture.ARM64"
        )
    return definition


def security_group(scope: Construct, id: str, *, vpc: ec2.IVpc, description: str) -> ec2.SecurityGroup:
    """A security group that admits nothing until a rule is added; egress is open (NAT, AWS APIs)."""
    return ec2.SecurityGroup(scope, id, vpc=vpc, description=description, allow_all_outbound=True)


def fargate_service(
    scope: Construct,
    id: str,
    *,
    cluster: ecs.ICluster,
    task_definition: ecs.FargateTaskDefinition,
    subnets: ec2.SubnetSelection,
    security_group: ec2.ISecurityGroup,
    desired_count: int,
    min_healthy_percent: int = 100,
    max_healthy_percent: int = 200,
    health_check_grace_period: Duration | None = None,
    cloud_map_options: ecs.CloudMapOptions | None = None,
    spot: bool = False,
) -> ecs.FargateService:
    """A private Fargate service: no public IP, no ECS Exec, rollback circuit breaker, latest platform.

    `spot` places every task on Fargate Spot (a capacity-provider strategy of FARGATE_SPOT alone,
    instead of the FARGATE launch type): a task may be stopped with two minutes' notice, and the
    service starts a replacement. The cluster must have FARGATE_SPOT associated.
    """
    return ecs.FargateService(
        scope,
        id,
        cluster=cluster,
        task_definition=task_definition,
        desired_count=desired_count,
        vpc_subnets=subnets,
        security_groups=[security_group],
        assign_public_ip=False,
        platform_version=ecs.FargatePlatformVersion.LATEST,
        circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
        min_healthy_percent=min_healthy_percent,
        max_healthy_percent=max_healthy_percent,
        enable_execute_command=False,
        propagate_tags=ecs.PropagatedTagSource.SERVICE,
        health_check_grace_period=health_check_grace_period,
        cloud_map_options=cloud_map_options,
        capacity_provider_strategies=(
            [ecs.CapacityProviderStrategy(capacity_provider=FARGATE_SPOT, weight=1)] if spot else None
        ),
    )


def ip_target_group(
    scope: Construct,
    id: str,
    *,
    vpc: ec2.IVpc,
    port: int,
    health_check_path: str,
    deregistration_delay: Duration = DEREGISTRATION_DELAY,
) -> elbv2.ApplicationTargetGroup:
    """An HTTP target group of task IPs, for a listener rule of the shared internal load balancer."""
    return elbv2.ApplicationTargetGroup(
        scope,
        id,
        vpc=vpc,
        port=port,
        protocol=elbv2.ApplicationProtocol.HTTP,
        target_type=elbv2.TargetType.IP,
        deregistration_delay=deregistration_delay,
        health_check=elbv2.HealthCheck(
            path=health_check_path,
            protocol=elbv2.Protocol.HTTP,
            healthy_http_codes="200",
            interval=Duration.seconds(15),
            timeout=Duration.seconds(5),
            healthy_threshold_count=2,
            unhealthy_threshold_count=3,
        ),
    )


UNTAGGED_IMAGE_EXPIRY = Duration.days(7)


def image_repository(
    scope: Construct, id: str, *, logical_id: str, untagged_image_expiry: Duration, retention_count: int
) -> ecr.Repository:
    """A private ECR repository for one service's image: immutable tags, scanned on push, KMS-encrypted,
    retained with its images, untagged images expiring and at most `retention_count` tagged ones kept."""
    repository = ecr.Repository(
        scope,
        id,
        image_scan_on_push=True,
        image_tag_mutability=ecr.TagMutability.IMMUTABLE,
        encryption=ecr.RepositoryEncryption.KMS,
        removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        empty_on_delete=False,
        lifecycle_rules=[
            ecr.LifecycleRule(
                rule_priority=1,
                description="Remove untagged images",
                tag_status=ecr.TagStatus.UNTAGGED,
                max_image_age=untagged_image_expiry,
            ),
            ecr.LifecycleRule(
                rule_priority=2,
                description=f"Keep the last {retention_count} images",
                tag_status=ecr.TagStatus.ANY,
                max_image_count=retention_count,
            ),
        ],
    )
    pin_logical_id(repository, logical_id)
    return repository
