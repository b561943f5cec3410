"""End to end with the real CDK CLI: bootstrap, deploy, redeploy with no changes, diff, destroy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emulator import control
from tests.emulator.emulator_testlib import REGION, Emulator

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = ROOT / "node_modules" / ".bin"
APP = Path(__file__).resolve().parent / "fixtures" / "cdk_app.py"
STACK = "EmulatorE2E"

pytestmark = [
    pytest.mark.skipif(not (NODE_BIN / "cdk").exists(), reason="the pinned CDK CLI is not installed"),
    pytest.mark.slow,  # the real CDK CLI bootstraps, deploys and destroys: about 20 s
]


def _cdk(emulator: Emulator, workdir: Path, *args: str) -> str:
    env = emulator.env()
    env.update(
        {
            "PATH": os.pathsep.join([str(NODE_BIN), str(Path(sys.executable).parent), env.get("PATH", "")]),
            "HOME": str(workdir),
            "CDK_DISABLE_VERSION_CHECK": "1",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "CI": "true",
            "FORCE_COLOR": "0",
        }
    )
    result = subprocess.run(
        [str(NODE_BIN / "cdk"), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"cdk {' '.join(args)} failed:\n{output}"
    return output


def test_cdk_cli_bootstrap_deploy_redeploy_destroy(
    emulator: Emulator, tmp_path: Path, set_mode: Callable[[str], None]
) -> None:
    set_mode("enforce")
    offset = control.log_size(emulator.log_path)
    assembly = tmp_path / "cdk.out"
    _cdk(
        emulator, tmp_path, "synth", "--app", f"{sys.executable} {APP}", "--output", str(assembly), "--quiet"
    )
    _cdk(emulator, tmp_path, "bootstrap", f"aws://{control.ACCOUNT_ID}/{REGION}")

    deployed = _cdk(
        emulator,
        tmp_path,
        "deploy",
        STACK,
        "--app",
        str(assembly),
        "--require-approval",
        "never",
        "--outputs-file",
        str(tmp_path / "outputs.json"),
    )
    assert f"{STACK}" in deployed
    out: dict[str, str] = json.loads((tmp_path / "outputs.json").read_text())[STACK]
    _assert_deployed(emulator, out)

    again = _cdk(emulator, tmp_path, "deploy", STACK, "--app", str(assembly), "--require-approval", "never")
    assert "(no changes)" in again
    diff = _cdk(emulator, tmp_path, "diff", STACK, "--app", str(assembly))
    assert "There were no differences" in diff

    changed = _changed_assembly(assembly, tmp_path / "changed.out")
    diff = _cdk(emulator, tmp_path, "diff", STACK, "--app", str(changed))
    assert "ReleaseChannel" in diff and "There were no differences" not in diff
    _cdk(emulator, tmp_path, "deploy", STACK, "--app", str(changed), "--require-approval", "never")
    assert emulator.client("ssm").get_parameter(Name="/e2e/release-channel")["Parameter"]["Value"] == "stable"
    tags = emulator.client("s3").get_bucket_tagging(Bucket=out["BucketName"])["TagSet"]
    assert {"Key": "stage", "Value": "e2e"} in tags

    _cdk(emulator, tmp_path, "destroy", STACK, "--app", str(changed), "--force")
    cfn = emulator.client("cloudformation")
    summaries = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == STACK]
    assert summaries and all(s["StackStatus"] == "DELETE_COMPLETE" for s in summaries)
    _assert_destroyed(emulator, out)
    assert control.log_problems(emulator.log_path, offset) == []
    assert _bootstrap_refusals(emulator, offset) == []
    shutil.rmtree(assembly, ignore_errors=True)
    shutil.rmtree(tmp_path / "changed.out", ignore_errors=True)


def _bootstrap_refusals(emulator: Emulator, offset: int) -> list[str]:
    """Log lines since byte offset in which enforced IAM refused a call of the bootstrap's roles
    (their names start with ``cdk-``): under enforce, as in AWS, they may do what the CLI asks."""
    text = emulator.log_path.read_bytes()[offset:].decode("utf-8", errors="replace")
    return [line for line in text.splitlines() if "refused" in line and "role/cdk-" in line]


def _changed_assembly(assembly: Path, target: Path) -> Path:
    """A copy of the cloud assembly whose template gains a parameter and a bucket tag: an update."""
    shutil.copytree(assembly, target)
    template_path = target / f"{STACK}.template.json"
    body = json.loads(template_path.read_text())
    resources = body["Resources"]
    resources["ReleaseChannel"] = {
        "Type": "AWS::SSM::Parameter",
        "Properties": {"Name": "/e2e/release-channel", "Type": "String", "Value": "stable"},
    }
    bucket = next(r for r in resources.values() if r["Type"] == "AWS::S3::Bucket")
    bucket["Properties"]["Tags"] = [*bucket["Properties"].get("Tags", []), {"Key": "stage", "Value": "e2e"}]
    template_path.write_text(json.dumps(body))
    # The template is published under its content hash: give the changed one a new object key.
    assets = json.loads((target / f"{STACK}.assets.json").read_text())
    old_key = next(
        destination["objectKey"]
        for asset in assets["files"].values()
        if asset["source"].get("path") == template_path.name
        for destination in asset["destinations"].values()
    )
    for name in (f"{STACK}.assets.json", "manifest.json"):
        path = target / name
        path.write_text(path.read_text().replace(old_key, f"changed-{old_key}"))
    return target


def _assert_deployed(emulator: Emulator, out: dict[str, str]) -> None:
    s3 = emulator.client("s3")
    assert s3.get_bucket_versioning(Bucket=out["BucketName"])["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=out["BucketName"])["PublicAccessBlockConfiguration"][
        "BlockPublicAcls"
    ]
    s3.put_object(Bucket=out["BucketName"], Key="probe", Body=b"ok")
    s3.delete_object(Bucket=out["BucketName"], Key="probe")
    for version in s3.list_object_versions(Bucket=out["BucketName"]).get("Versions", []):
        s3.delete_object(Bucket=out["BucketName"], Key=version["Key"], VersionId=version["VersionId"])
    for marker in s3.list_object_versions(Bucket=out["BucketName"]).get("DeleteMarkers", []):
        s3.delete_object(Bucket=out["BucketName"], Key=marker["Key"], VersionId=marker["VersionId"])

    secret = json.loads(
        emulator.client("secretsmanager").get_secret_value(SecretId=out["SecretArn"])["SecretString"]
    )
    assert secret["user"] == "api" and len(secret["key"]) == 24

    clusters = emulator.client("rds").describe_db_clusters()["DBClusters"]
    cluster = next(c for c in clusters if c["Endpoint"] == out["ClusterEndpoint"])
    assert cluster["Engine"] == "aurora-postgresql" and out["ClusterPort"] == "5432"
    assert cluster["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 2.0}
    assert len(cluster["DBClusterMembers"]) == 1
    assert cluster["DBSubnetGroup"]
    assert (
        len(
            emulator.client("ec2").describe_nat_gateways(Filter=[{"Name": "state", "Values": ["available"]}])[
                "NatGateways"
            ]
        )
        >= 1
    )


def _assert_destroyed(emulator: Emulator, out: dict[str, str]) -> None:
    rds: Any = emulator.client("rds")
    assert out["ClusterEndpoint"] not in [c["Endpoint"] for c in rds.describe_db_clusters()["DBClusters"]]
    assert out["BucketName"] not in [b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]]
    secrets = emulator.client("secretsmanager").list_secrets()["SecretList"]
    assert out["SecretArn"] not in [s["ARN"] for s in secrets]
    vpcs = emulator.client("ec2").describe_vpcs(
        Filters=[{"Name": "tag:aws:cloudformation:stack-name", "Values": [STACK]}]
    )
    assert vpcs["Vpcs"] == []
