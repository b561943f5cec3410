"""The ork processor: a Lambda that processes OpenRocket design files (`*.ork`) as they are uploaded.

blog_data owns and publishes the code; this module owns the function's infrastructure: the trigger
on the design-files bucket, the async-invocation policy with its failure queue, its log group and
the permissions on the resources it is given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.modules.stateful import pin_logical_id

PLACEHOLDER_CODE = Path(__file__).resolve().parent / "placeholder"
PLACEHOLDER_HANDLER = "handler.handler"
DEFAULT_HANDLER = "ork_processor.handler.handler"
DESIGN_SUFFIX = ".ork"
MAX_EVENT_AGE = Duration.hours(1)
RETRY_ATTEMPTS = 2
FAILURE_RETENTION = Duration.days(14)
DEFAULT_TIMEOUT = Duration.minutes(2)
METRIC_PERIOD = Duration.minutes(5)
RESERVED_ENVIRONMENT = frozenset({"CLEAN_BUCKET", "CLEAN_PREFIX"})
_HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, kw_only=True)
class OrkCode:
    """Where the function's code comes from: blog_data's published archive, or this module's placeholder.

    Build it with `OrkCode.published(...)` or `OrkCode.local_placeholder()`.
    """

    bucket: s3.IBucket | None = None
    """Bucket holding blog_data's published zip archive (same region as the stack)."""
    key: str | None = None
    """Object key of the archive, e.g. `ork-processor/1.4.0.zip`."""
    object_version: str | None = None
    """S3 version of the archive; pins the exact upload, so a re-upload under the same key changes nothing."""
    placeholder: bool = False
    """Use this module's `placeholder/handler.py` (the local environment, where nothing is published)."""

    def __post_init__(self) -> None:
        if self.placeholder:
            if self.bucket is not None or self.key is not None or self.object_version is not None:
                raise ValueError("OrkCode placeholder=True takes no bucket, key or object_version")
            return
        if self.bucket is None or not self.key:
            raise ValueError(
                "OrkCode needs bucket and key of blog_data's published archive, or placeholder=True "
                "(use OrkCode.published(...) or OrkCode.local_placeholder())"
            )
        if not self.key.endswith(".zip") or self.key.startswith("/"):
            raise ValueError(
                f"OrkCode key {self.key!r} must be the object key of a .zip archive (no leading '/')"
            )
        if self.object_version is not None and not self.object_version.strip():
            raise ValueError("OrkCode object_version must be a non-empty S3 version id, or None")

    @classmethod
    def published(cls, bucket: s3.IBucket, key: str, object_version: str | None = None) -> OrkCode:
        """blog_data's published archive."""
        return cls(bucket=bucket, key=key, object_version=object_version)

    @classmethod
    def local_placeholder(cls) -> OrkCode:
        """The placeholder handler that only logs the design files it is told about."""
        return cls(placeholder=True)

    def lambda_code(self) -> lambda_.Code:
        if self.placeholder:
            return lambda_.Code.from_asset(str(PLACEHOLDER_CODE), exclude=["__pycache__", "*.pyc"])
        assert self.bucket is not None and self.key is not None
        return lambda_.Code.from_bucket(self.bucket, self.key, self.object_version)


@dataclass(frozen=True, kw_only=True)
class OrkProcessorProps:
    """Inputs of the ork processor module."""

    role: iam.IRole
    """Execution role of the function (`RuntimeRoles.ork_processor`); this module adds its grants to it."""
    design_files: s3.IBucket
    """Bucket whose new `*.ork` objects trigger the function; it may read those objects. Same stack."""
    clean: s3.IBucket
    """Bucket the function writes its results to."""
    secrets: tuple[secretsmanager.ISecret, ...]
    """Secrets the function may read (Neo4j Aura, Cloudinary); pass their ARNs through `environment`."""
    code: OrkCode
    """The function's code: `OrkCode.published(bucket, key, version)` or `OrkCode.local_placeholder()`."""
    handler: str = DEFAULT_HANDLER
    """Handler of the published code; the placeholder always uses `handler.handler`."""
    runtime: lambda_.Runtime = lambda_.Runtime.PYTHON_3_13
    """Python runtime; must match the one blog_data builds the archive for (arm64)."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Plain settings for the code (e.g. secret ARNs); never secret values. `CLEAN_BUCKET` and
    `CLEAN_PREFIX` are set by the module."""
    clean_prefix: str = ""
    """Key prefix the function may write under in `clean` (ends with `/`); empty allows the whole bucket."""
    memory_size: int = 1024
    """Memory of the function, in MiB."""
    timeout: Duration = DEFAULT_TIMEOUT
    """Longest run of one invocation."""
    reserved_concurrency: int | None = None
    """Concurrent executions reserved for (and capping) the function; None: none reserved, the
    function shares the account's unreserved pool (a new account's quota leaves none to reserve)."""
    log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS
    """Retention of the function's log group."""
    log_encryption_key: kms.IKey | None = None
    """KMS key that encrypts the function's log group; None: CloudWatch's own key."""


class OrkProcessor(Construct):
    """An arm64 Python Lambda fed by `*.ork` uploads, retried twice within an hour, failures kept in SQS."""

    def __init__(self, scope: Construct, id: str, *, props: OrkProcessorProps) -> None:
        super().__init__(scope, id)
        _validate(self, props)

        self.failure_queue = sqs.Queue(
            self,
            "FailureQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=FAILURE_RETENTION,
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=props.log_retention,
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
            encryption_key=props.log_encryption_key,
        )
        pin_logical_id(self.log_group, "OrkProcessorLogs")

        self.fn = lambda_.Function(
            self,
            "Function",
            description="Processes OpenRocket design files (*.ork) uploaded to the design-files bucket.",
            runtime=props.runtime,
            architecture=lambda_.Architecture.ARM_64,
            code=props.code.lambda_code(),
            handler=PLACEHOLDER_HANDLER if props.code.placeholder else props.handler,
            role=props.role,
            memory_size=props.memory_size,
            timeout=props.timeout,
            reserved_concurrent_executions=props.reserved_concurrency,
            log_group=self.log_group,
            environment={
                **props.environment,
                "CLEAN_BUCKET": props.clean.bucket_name,
                "CLEAN_PREFIX": props.clean_prefix,
            },
            max_event_age=MAX_EVENT_AGE,
            retry_attempts=RETRY_ATTEMPTS,
            on_failure=destinations.SqsDestination(self.failure_queue),
        )

        self.log_group.grant_write(props.role)
        props.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadDesignFiles",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[props.design_files.arn_for_objects(f"*{DESIGN_SUFFIX}")],
            )
        )
        props.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteResults",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[props.clean.arn_for_objects(f"{props.clean_prefix}*")],
            )
        )
        for secret in props.secrets:
            secret.grant_read(props.role)

        props.design_files.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.fn),
            s3.NotificationKeyFilter(suffix=DESIGN_SUFFIX),
        )

    def metric_errors(self, period: Duration = METRIC_PERIOD) -> cloudwatch.Metric:
        """Invocations that ended in an error (sum)."""
        return self.fn.metric_errors(period=period)

    def metric_throttles(self, period: Duration = METRIC_PERIOD) -> cloudwatch.Metric:
        """Invocations refused for lack of reserved concurrency (sum)."""
        return self.fn.metric_throttles(period=period)

    def metric_dropped_events(self, period: Duration = METRIC_PERIOD) -> cloudwatch.Metric:
        """Upload events dropped unprocessed (too old, or retries exhausted with no destination) (sum)."""
        return self.fn.metric("AsyncEventsDropped", period=period, statistic="Sum")

    def metric_failure_queue_depth(self, period: Duration = METRIC_PERIOD) -> cloudwatch.Metric:
        """Failed events waiting in the failure queue (maximum)."""
        queue = self.failure_queue
        return queue.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum")

    def metric_oldest_failure_age(self, period: Duration = METRIC_PERIOD) -> cloudwatch.Metric:
        """Age in seconds of the oldest failed event; it is deleted after 14 days (maximum)."""
        return self.failure_queue.metric_approximate_age_of_oldest_message(period=period, statistic="Maximum")


def _validate(scope: Construct, props: OrkProcessorProps) -> None:
    if Stack.of(props.design_files) is not Stack.of(scope):
        raise ValueError(
            "OrkProcessor design_files must be in the same stack as the function (the S3 notification "
            "would otherwise make a cross-stack cycle)"
        )
    if props.runtime.family != lambda_.RuntimeFamily.PYTHON:
        raise ValueError(f"OrkProcessor runtime {props.runtime.name} must be a Python runtime")
    if not props.code.placeholder and not _HANDLER.fullmatch(props.handler):
        raise ValueError(
            f"OrkProcessor handler {props.handler!r} must be a dotted name such as module.function"
        )
    for key in props.environment:
        if not _ENV_KEY.fullmatch(key) or key.startswith("AWS_"):
            raise ValueError(
                f"OrkProcessor environment key {key!r} must be letters, digits and '_' "
                "(not starting with a digit or AWS_)"
            )
        if key in RESERVED_ENVIRONMENT:
            raise ValueError(
                f"OrkProcessor environment key {key!r} is set by the module; choose another name"
            )
    prefix = props.clean_prefix
    if prefix and (prefix.startswith("/") or not prefix.endswith("/") or any(c in prefix for c in "*?")):
        raise ValueError(
            f"OrkProcessor clean_prefix {prefix!r} must be empty or a key prefix ending with '/', "
            "without a leading '/' or wildcards"
        )
    if not 128 <= props.memory_size <= 10240:
        raise ValueError(f"OrkProcessor memory_size {props.memory_size} must be between 128 and 10240 MiB")
    if not 1 <= props.timeout.to_seconds() <= 900:
        raise ValueError("OrkProcessor timeout must be between 1 second and 15 minutes")
    if props.reserved_concurrency is not None and props.reserved_concurrency < 1:
        raise ValueError(
            f"OrkProcessor reserved_concurrency {props.reserved_concurrency} must be at least 1 "
            "(0 disables the function)"
        )
