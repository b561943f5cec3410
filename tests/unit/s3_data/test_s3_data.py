"""core/s3_data: four private, encrypted, TLS-only buckets with their lifecycles and access logs."""

from __future__ import annotations

import pytest
from aws_cdk import Duration
from aws_cdk.assertions import Match, Template

from infra.modules.core.s3_data.construct import DataBucket, S3Data, S3DataProps
from tests.unit.helpers import new_stack


@pytest.fixture(scope="module")
def template() -> Template:
    stack = new_stack()
    S3Data(
        stack,
        "Data",
        props=S3DataProps(name_prefix="rocketclub-test-123456789012", cached_expiration=Duration.days(7)),
    )
    return Template.from_stack(stack)


def bucket(template: Template, purpose: DataBucket) -> dict:  # type: ignore[type-arg]
    logical = "DataBucket" + "".join(p.capitalize() for p in purpose.value.split("-"))
    resources = template.find_resources("AWS::S3::Bucket")
    assert logical in resources, f"{logical} not among {sorted(resources)}"
    return resources[logical]  # type: ignore[no-any-return]


@pytest.mark.parametrize("purpose", list(DataBucket))
def test_every_bucket_is_private_encrypted_and_retained(template: Template, purpose: DataBucket) -> None:
    resource = bucket(template, purpose)
    props = resource["Properties"]
    assert props["BucketName"] == f"rocketclub-test-123456789012-{purpose.value}"
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert resource["DeletionPolicy"] == "RetainExceptOnCreate"
    assert resource["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize("purpose", [DataBucket.RAW, DataBucket.CLEAN, DataBucket.DESIGN_FILES])
def test_data_buckets_are_versioned_and_expire_noncurrent_versions(
    template: Template, purpose: DataBucket
) -> None:
    props = bucket(template, purpose)["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}


def test_cached_is_unversioned_and_expires_objects(template: Template) -> None:
    props = bucket(template, DataBucket.CACHED)["Properties"]
    assert "VersioningConfiguration" not in props
    rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-cached-objects"]["ExpirationInDays"] == 7


def test_raw_moves_to_infrequent_access(template: Template) -> None:
    rules = {
        r["Id"]: r for r in bucket(template, DataBucket.RAW)["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    assert rules["raw-to-infrequent-access"]["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": 90}
    ]


def test_plain_http_and_old_tls_are_denied(template: Template) -> None:
    template.resource_count_is("AWS::S3::BucketPolicy", 5)
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        ),
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}}}
                        ),
                    ]
                )
            }
        },
    )


def test_rejects_a_prefix_that_makes_names_too_long() -> None:
    with pytest.raises(ValueError, match="over 63 characters"):
        S3Data(new_stack(), "Data", props=S3DataProps(name_prefix="x" * 60))


@pytest.mark.parametrize("purpose", list(DataBucket))
def test_every_data_bucket_logs_access_under_its_purpose(template: Template, purpose: DataBucket) -> None:
    # GIVEN the data buckets WHEN synthesized THEN each delivers server access logs to the log bucket
    props = bucket(template, purpose)["Properties"]
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": "DataAccessLogBucket"},
        "LogFilePrefix": f"{purpose.value}/",
    }


def test_the_access_log_bucket_is_private_retained_and_expires_logs(template: Template) -> None:
    resource = template.find_resources("AWS::S3::Bucket")["DataAccessLogBucket"]
    props = resource["Properties"]
    assert resource["DeletionPolicy"] == "RetainExceptOnCreate"
    assert props["BucketName"] == "rocketclub-test-123456789012-access-logs"
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-access-logs"]["ExpirationInDays"] == 365
    assert "LoggingConfiguration" not in props


def test_only_the_s3_logging_service_may_write_each_buckets_logs(template: Template) -> None:
    policy = template.find_resources(
        "AWS::S3::BucketPolicy", {"Properties": {"Bucket": {"Ref": "DataAccessLogBucket"}}}
    )
    statements = next(iter(policy.values()))["Properties"]["PolicyDocument"]["Statement"]
    delivery = [s for s in statements if s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}]
    assert len(delivery) == 4
    raw = next(s for s in delivery if s["Sid"] == "ServerAccessLogsRaw")
    assert raw["Effect"] == "Allow" and raw["Action"] == "s3:PutObject"
    assert raw["Condition"] == {
        "ArnLike": {"aws:SourceArn": {"Fn::GetAtt": ["DataBucketRaw", "Arn"]}},
        "StringEquals": {"aws:SourceAccount": "123456789012"},
    }
    assert raw["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": ["DataAccessLogBucket", "Arn"]}, "/raw/*"]]}


def test_rejects_an_access_log_retention_under_a_day() -> None:
    with pytest.raises(ValueError, match="access_log_retention"):
        S3Data(
            new_stack(),
            "Data",
            props=S3DataProps(name_prefix="rocketclub-test", access_log_retention=Duration.hours(1)),
        )
