"""`verify` reads each live bucket policy: a missing TLS deny or an Allow to everyone is drift.

Against an in-process S3 (moto); tests/integration/test_ops.py does the same on the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from blog_infra.target import Target
from blog_infra.verify import BucketPolicyFacts, Status, Verifier

BUCKET = "rocketclub-test-raw"
ARN = f"arn:aws:s3:::{BUCKET}"


def deny(condition: dict[str, Any], resources: list[Any]) -> dict[str, Any]:
    return {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": resources,
        "Condition": condition,
    }


PLAIN_HTTP = {"Bool": {"aws:SecureTransport": "false"}}
OLD_TLS = {"NumericLessThan": {"s3:TlsVersion": 1.2}}
TEMPLATE_RESOURCES = [
    {"Fn::GetAtt": ["Raw", "Arn"]},
    {"Fn::Join": ["", [{"Fn::GetAtt": ["Raw", "Arn"]}, "/*"]]},
]
TEMPLATE = {
    "Resources": {
        "Raw": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": BUCKET}},
        "RawPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "Raw"},
                "PolicyDocument": {
                    "Statement": [deny(PLAIN_HTTP, TEMPLATE_RESOURCES), deny(OLD_TLS, TEMPLATE_RESOURCES)]
                },
            },
        },
    }
}
CONFORMING = [deny(PLAIN_HTTP, [ARN, f"{ARN}/*"]), deny(OLD_TLS, [ARN, f"{ARN}/*"])]
PUBLIC_READ = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{ARN}/*"}


@pytest.fixture
def s3(local_config: Any) -> Iterator[tuple[Any, Target]]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client, Target(config=local_config)


def policy_row(target: Target) -> dict[str, str]:
    verifier = Verifier(target, "blog-test", TEMPLATE)
    (row,) = [c.to_json() for c in verifier._buckets() if c.check == "bucket policy"]
    return row


@pytest.mark.parametrize(
    ("live", "status", "actual"),
    [
        (CONFORMING, Status.PASS, "denies plain HTTP; denies TLS < 1.2; nothing public"),
        ([*CONFORMING, PUBLIC_READ], Status.DRIFT, "allows s3:GetObject to everyone"),
        (CONFORMING[1:], Status.DRIFT, "allows plain HTTP"),
        (CONFORMING[:1], Status.DRIFT, "allows TLS < 1.2"),
        ([deny(OLD_TLS, [ARN]), CONFORMING[0]], Status.DRIFT, "allows TLS < 1.2"),
        (None, Status.DRIFT, "allows plain HTTP; allows TLS < 1.2; nothing public"),
    ],
    ids=[
        "conforming",
        "public-read",
        "no-tls-deny",
        "no-old-tls-deny",
        "old-tls-deny-on-bucket-only",
        "none",
    ],
)
def test_the_live_bucket_policy_is_checked(
    s3: tuple[Any, Target], live: list[dict[str, Any]] | None, status: Status, actual: str
) -> None:
    # GIVEN a live bucket policy
    client, target = s3
    if live is not None:
        client.put_bucket_policy(
            Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": live})
        )
    # WHEN verified against the template THEN a weaker one is drift, naming what is wrong
    row = policy_row(target)
    assert row["resource"] == BUCKET
    assert row["expected"] == "denies plain HTTP; denies TLS < 1.2; nothing public"
    assert row["status"] == status.value
    assert actual in row["actual"]


def test_a_policy_without_statements_guarantees_nothing() -> None:
    facts = BucketPolicyFacts.of({}, lambda _s: True)
    assert facts == BucketPolicyFacts(denies_plain_http=False, denies_old_tls=False, public_allows=())
    assert not facts.weaker_than(facts)
