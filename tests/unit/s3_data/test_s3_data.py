"""core/s3_data: four private, encrypted, TLS-only buckets with their lifecycles."""

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
    assert resource["DeletionPolicy"] == "Retain"
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
    template.resource_count_is("AWS::S3::BucketPolicy", 4)
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
