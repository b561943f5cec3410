"""The platform's data buckets (cached, raw, clean, design-files) and their access-log bucket."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.modules.stateful import pin_logical_id


class DataBucket(StrEnum):
    """The purpose of each bucket; the value is part of its name and of its pinned logical id."""

    CACHED = "cached"
    RAW = "raw"
    CLEAN = "clean"
    DESIGN_FILES = "design-files"


CACHED_EXPIRATION = Duration.days(30)
NONCURRENT_VERSION_EXPIRATION = Duration.days(90)
RAW_INFREQUENT_ACCESS_AFTER = Duration.days(90)
ACCESS_LOG_RETENTION = Duration.days(365)
ACCESS_LOGS_SUFFIX = "access-logs"
S3_LOGGING_SERVICE = "logging.s3.amazonaws.com"


@dataclass(frozen=True, kw_only=True)
class S3DataProps:
    """Inputs of the data-buckets module."""

    name_prefix: str
    """Bucket names are `<name_prefix>-<purpose>`; include the account id to keep them unique."""
    cached_expiration: Duration = CACHED_EXPIRATION
    """Objects in `cached` are deleted after this."""
    noncurrent_version_expiration: Duration = NONCURRENT_VERSION_EXPIRATION
    """Noncurrent object versions in versioned buckets are deleted after this."""
    raw_infrequent_access_after: Duration = RAW_INFREQUENT_ACCESS_AFTER
    """Objects in `raw` move to S3 Standard-IA after this."""
    access_log_retention: Duration = ACCESS_LOG_RETENTION
    """Server access logs of the data buckets are deleted after this."""
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
    """What happens to a bucket when it leaves the stack. Data is retained unless told otherwise."""


class S3Data(Construct):
    """Private, encrypted, TLS-only buckets; all but `cached` versioned, each with its lifecycle and
    its server access logs in the access-log bucket."""

    def __init__(self, scope: Construct, id: str, *, props: S3DataProps) -> None:
        super().__init__(scope, id)
        longest = max(len(name) for name in (*(p.value for p in DataBucket), ACCESS_LOGS_SUFFIX))
        if len(props.name_prefix) + 1 + longest > 63:
            raise ValueError(
                f"S3Data name_prefix {props.name_prefix!r} makes bucket names over 63 characters"
            )
        if props.access_log_retention.to_seconds() < 86400 or props.access_log_retention.to_seconds() % 86400:
            raise ValueError("S3Data access_log_retention must be a whole number of days, at least one")

        self.access_log_bucket = self._access_log_bucket(props)
        self.buckets: dict[DataBucket, s3.Bucket] = {}
        for purpose in DataBucket:
            self.buckets[purpose] = self._bucket(purpose, props)
            self._log_access(self.buckets[purpose], purpose)

    @property
    def cached(self) -> s3.Bucket:
        return self.buckets[DataBucket.CACHED]

    @property
    def raw(self) -> s3.Bucket:
        return self.buckets[DataBucket.RAW]

    @property
    def clean(self) -> s3.Bucket:
        return self.buckets[DataBucket.CLEAN]

    @property
    def design_files(self) -> s3.Bucket:
        return self.buckets[DataBucket.DESIGN_FILES]

    def _bucket(self, purpose: DataBucket, props: S3DataProps) -> s3.Bucket:
        versioned = purpose is not DataBucket.CACHED
        rules = [
            s3.LifecycleRule(
                id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)
            )
        ]
        if versioned:
            rules.append(
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=props.noncurrent_version_expiration,
                )
            )
        if purpose is DataBucket.CACHED:
            rules.append(s3.LifecycleRule(id="expire-cached-objects", expiration=props.cached_expiration))
        if purpose is DataBucket.RAW:
            rules.append(
                s3.LifecycleRule(
                    id="raw-to-infrequent-access",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=props.raw_infrequent_access_after,
                        )
                    ],
                )
            )
        construct_id = "".join(part.capitalize() for part in purpose.value.split("-"))
        bucket = s3.Bucket(
            self,
            construct_id,
            bucket_name=f"{props.name_prefix}-{purpose.value}",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=versioned,
            lifecycle_rules=rules,
            removal_policy=props.removal_policy,
            auto_delete_objects=False,
        )
        pin_logical_id(bucket, f"DataBucket{construct_id}")
        return bucket

    def _access_log_bucket(self, props: S3DataProps) -> s3.Bucket:
        """The target of the data buckets' server access logs (S3 delivers them with SSE-S3 only)."""
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            bucket_name=f"{props.name_prefix}-{ACCESS_LOGS_SUFFIX}",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=props.access_log_retention),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)
                ),
            ],
            removal_policy=props.removal_policy,
            auto_delete_objects=False,
        )
        pin_logical_id(bucket, "DataAccessLogBucket")
        return bucket

    def _log_access(self, bucket: s3.Bucket, purpose: DataBucket) -> None:
        """Deliver `bucket`'s server access logs under `<purpose>/` of the access-log bucket.

        Delivery is allowed by a bucket policy for the S3 logging service, scoped to the source
        bucket and account (the log bucket's ACLs are disabled, so no log-delivery ACL).
        """
        prefix = f"{purpose.value}/"
        cfn_bucket = bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
            destination_bucket_name=self.access_log_bucket.bucket_name, log_file_prefix=prefix
        )
        self.access_log_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"ServerAccessLogs{''.join(part.capitalize() for part in purpose.value.split('-'))}",
                principals=[iam.ServicePrincipal(S3_LOGGING_SERVICE)],
                actions=["s3:PutObject"],
                resources=[self.access_log_bucket.arn_for_objects(f"{prefix}*")],
                conditions={
                    "ArnLike": {"aws:SourceArn": bucket.bucket_arn},
                    "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                },
            )
        )
