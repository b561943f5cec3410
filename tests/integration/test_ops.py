"""Day-2 operations on the deployed local platform: `verify` conforms on a fresh deploy and reports a
setting changed behind the stack's back; `secrets status` shows placeholders until `secrets set` replaces
one. Every test restores what it changed, so the other integration tests see the platform as deployed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import REPO_ROOT, LocalPlatform

pytestmark = pytest.mark.integration

BUCKET = "rocketclub-local-123456789012-raw"
SECRET = "blog/local/external/cloudinary"


def _verify(platform: LocalPlatform) -> tuple[int, dict[str, Any]]:
    result = platform.cli("verify", "--env", "local", "--json", check=False)
    assert result.returncode in (0, 5, 6), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


def _rows(report: dict[str, Any], check: str, resource: str | None = None) -> list[dict[str, str]]:
    return [
        c for c in report["checks"] if c["check"] == check and (resource is None or c["resource"] == resource)
    ]


def test_verify_conforms_on_a_fresh_deploy(platform: LocalPlatform) -> None:
    # GIVEN the platform as deployed WHEN verified
    code, report = _verify(platform)
    # THEN it conforms: no drift, nothing it could not check
    assert code == 0, [c for c in report["checks"] if c["status"] not in ("pass", "skipped")]
    assert report["verdict"] == "conforms"
    # AND every kind of check ran and passed
    for check in (
        "stack resources",
        "bucket encryption",
        "bucket public access block",
        "bucket versioning",
        "tags",
        "bucket policy",
        "database encryption",
        "database deletion protection",
        "database backup retention (days)",
        "database master secret",
        "secret",
        "load balancer scheme",
        "listener TLS policy",
        "distribution aliases",
        "distribution minimum TLS",
        "contract parameter",
        "origin lock: default action",
        "origin lock: routes",
    ):
        rows = _rows(report, check)
        assert rows and {r["status"] for r in rows} == {"pass"}, check
    assert len(_rows(report, "contract parameter")) >= 20
    # AND the bypass request is skipped on the emulator (it serves no HTTP), saying so, never a pass
    probes = _rows(report, "origin lock: request without the header")
    assert {(r["resource"], r["status"]) for r in probes} == {
        ("pipelines.rocketclub.test", "skipped"),
        ("portal.rocketclub.test", "skipped"),
    }, probes
    assert all("serves no HTTP traffic" in r["actual"] for r in probes)
    # AND drift detection is skipped on the emulator, never counted as a pass
    (drift,) = _rows(report, "drift detection")
    assert (drift["status"], drift["actual"]) == ("skipped", "not supported by this engine")


@pytest.fixture
def tampered_bucket(platform: LocalPlatform) -> Iterator[str]:
    """The raw bucket with its encryption deleted and its public access block opened, behind the stack's
    back; restored afterwards."""
    s3 = platform.client("s3")
    encryption = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    s3.delete_bucket_encryption(Bucket=BUCKET)
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={key: False for key in block})
    try:
        yield BUCKET
    finally:
        s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration=encryption)
        s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration=block)


def test_verify_reports_a_change_behind_the_stacks_back(
    platform: LocalPlatform, tampered_bucket: str
) -> None:
    # WHEN verified after the out-of-band change
    code, report = _verify(platform)
    # THEN it exits 6 and names the bucket, what was expected and what it found
    assert code == 6 and report["verdict"] == "drift found"
    drifted = {(c["check"], c["resource"]): c for c in report["checks"] if c["status"] == "drift"}
    assert set(drifted) == {
        ("bucket encryption", tampered_bucket),
        ("bucket public access block", tampered_bucket),
    }
    encryption = drifted[("bucket encryption", tampered_bucket)]
    assert (encryption["expected"], encryption["actual"]) == ("AES256", "none")
    assert drifted[("bucket public access block", tampered_bucket)]["actual"].startswith("not blocked: ")


def _public_read(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    public = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    return [*statements, public]


def _without_tls_denies(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if s.get("Effect") != "Deny"]


@pytest.mark.parametrize(
    ("tamper", "found"),
    [(_public_read, "allows s3:GetObject to everyone"), (_without_tls_denies, "allows plain HTTP")],
    ids=["public-allow", "no-tls-denies"],
)
def test_verify_reports_a_weakened_bucket_policy(platform: LocalPlatform, tamper: Any, found: str) -> None:
    # GIVEN the raw bucket's policy weakened behind the stack's back
    s3 = platform.client("s3")
    deployed = s3.get_bucket_policy(Bucket=BUCKET)["Policy"]
    document = json.loads(deployed)
    s3.put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps({**document, "Statement": tamper(document["Statement"])})
    )
    try:
        # WHEN verified THEN it is drift (exit 6), on that bucket's policy only
        code, report = _verify(platform)
    finally:
        s3.put_bucket_policy(Bucket=BUCKET, Policy=deployed)
    assert code == 6 and report["verdict"] == "drift found"
    (drifted,) = [c for c in report["checks"] if c["status"] == "drift"]
    assert (drifted["check"], drifted["resource"]) == ("bucket policy", BUCKET)
    assert found in drifted["actual"]


def test_verify_table_and_exit_code_after_restoring(platform: LocalPlatform) -> None:
    # GIVEN the restored bucket WHEN verified for a terminal THEN the table shows the columns and it conforms
    result = platform.cli("verify", "--env", "local")
    for column in ("Check", "Resource", "Expected", "Actual", "Status"):
        assert column in result.stdout
    assert "blog-local: conforms" in result.stdout


def _secrets(platform: LocalPlatform) -> dict[str, dict[str, Any]]:
    result = platform.cli("secrets", "status", "--env", "local", "--json")
    return {s["name"]: s for s in json.loads(result.stdout)}


@pytest.fixture
def restored_secret(platform: LocalPlatform) -> Iterator[str]:
    sm = platform.client("secretsmanager")
    original = sm.get_secret_value(SecretId=SECRET)["SecretString"]
    try:
        yield SECRET
    finally:
        sm.put_secret_value(SecretId=SECRET, SecretString=original)


def test_secrets_status_shows_placeholders_until_set(platform: LocalPlatform, restored_secret: str) -> None:
    # GIVEN a fresh deploy THEN the external and app secrets hold placeholders, the generated ones do not
    before = _secrets(platform)
    assert before[restored_secret]["placeholder"] == "yes"
    assert before["blog/local/external/neo4j-aura"]["placeholder"] == "yes"
    assert before["blog/local/database/prefect"]["placeholder"] == "no (generated)"
    assert any(name.startswith("RDS master secret") for name in before)
    assert "role blog-local-ork-processor" in before[restored_secret]["consumers"]
    # AND the portal's placeholder reaches its container as no empty variable (it would stop Backstage)
    assert before["blog/local/apps/backstage"]["placeholder"] == "yes"
    assert before["blog/local/apps/backstage"]["empty_in_tasks"] == []
    # WHEN the real value is set through stdin
    secret_value = "Sup3r-secret-value-xyz"
    value = json.dumps(
        {"cloud_name": "rocketclub", "api_key": "1234", "api_secret": secret_value, "placeholder": "true"}
    )
    result = subprocess.run(
        [sys.executable, "-m", "blog_infra.cli", "secrets", "set", "cloudinary", "--env", "local"],
        cwd=REPO_ROOT,
        env={**os.environ, "BLOG_INFRA_STATE_DIR": str(platform.state_dir)},
        input=value,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # THEN the value is never echoed
    assert secret_value not in result.stdout + result.stderr
    # AND the secret no longer holds its placeholder, with the placeholder key dropped
    after = _secrets(platform)
    assert after[restored_secret]["placeholder"] == "no"
    assert after["blog/local/external/neo4j-aura"]["placeholder"] == "yes"
    stored = json.loads(platform.client("secretsmanager").get_secret_value(SecretId=SECRET)["SecretString"])
    assert stored == {"api_key": "1234", "api_secret": secret_value, "cloud_name": "rocketclub"}
    status_text = platform.cli("secrets", "status", "--env", "local").stdout
    assert secret_value not in status_text


def test_secrets_set_refuses_a_value_without_the_expected_keys(platform: LocalPlatform) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "blog_infra.cli", "secrets", "set", "neo4j-aura", "--env", "local"],
        cwd=REPO_ROOT,
        env={**os.environ, "BLOG_INFRA_STATE_DIR": str(platform.state_dir)},
        input='{"uri": "neo4j+s://db.example", "pasword": "typo-value"}',
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "missing password, username" in result.stderr and "unknown pasword" in result.stderr
    assert "typo-value" not in result.stdout + result.stderr
