"""`blog-infra preflight` and `blog-infra deploy` against emulators of account shapes, as a user runs
them: one line per problem naming its fix, its own exit code, JSON for the pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import control
from emulator.shape import EmulatorShape
from tests.conftest import REPO_ROOT

NEW_ACCOUNT = EmulatorShape(lambda_concurrency=10)


def cli(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "blog_infra.cli", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "BLOG_INFRA_STATE_DIR": str(state_dir)},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def state_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A state dir whose emulator has the shape the test is parametrized with (None: the default)."""
    status = control.start(tmp_path / "emulator", request.param)
    assert status.running
    try:
        yield tmp_path
    finally:
        control.stop(tmp_path / "emulator")


@pytest.mark.slow
@pytest.mark.parametrize("state_dir", [NEW_ACCOUNT], indirect=True)
def test_preflight_json_names_the_lambda_problem_and_exits_7(state_dir: Path) -> None:
    # GIVEN the local environment (9 reserved executions) and a new account's Lambda quota of 10
    # WHEN the pipeline runs preflight with --json
    result = cli(state_dir, "preflight", "--env", "local", "--json")
    # THEN it exits 7, its JSON says not ok with the one problem, and stderr is one line without traceback
    assert result.returncode == 7, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["env"] == "local"
    assert [p["check"] for p in report["problems"]] == ["lambda-concurrency"]
    assert {c["check"]: c["api"] for c in report["checks"]}["images"] == "ecr:DescribeImages"
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "set the lambda_concurrency reservations to 0 in infra/envs/local/config.toml" in lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("state_dir", [None], indirect=True)
def test_preflight_passes_on_the_default_emulator(state_dir: Path) -> None:
    # GIVEN the default emulator WHEN preflight runs THEN nothing would fail: exit 0, notes only
    result = cli(state_dir, "preflight", "--env", "local")
    assert result.returncode == 0, result.stderr
    assert "nothing would make the deploy fail" in result.stdout
    assert "problem " not in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("state_dir", [NEW_ACCOUNT], indirect=True)
def test_deploy_to_a_new_account_is_refused_by_preflight_before_anything_changes(state_dir: Path) -> None:
    # GIVEN a new account's Lambda quota of 10
    # WHEN the local environment is deployed to it
    result = cli(state_dir, "deploy", "--env", "local")
    # THEN the deploy is refused with exit 7 and one line naming the fix, before any stack exists
    assert result.returncode == 7, result.stdout + result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith("error: refusing to deploy: preflight found 1 problem")
    assert "Lambda keeps at least 100 unreserved" in line
    assert "Traceback" not in result.stderr
    status = control.status(state_dir / "emulator")
    assert status.endpoint
    stacks = cli(state_dir, "outputs", "--env", "local")
    assert stacks.returncode == 5


@pytest.mark.slow
@pytest.mark.parametrize("state_dir", [EmulatorShape(zone_ids={"us-east-1b": "use1-az3"})], indirect=True)
def test_a_first_deploy_succeeds_in_an_account_whose_zone_name_maps_to_a_zone_without_vpc_origins(
    state_dir: Path,
) -> None:
    # GIVEN an account whose us-east-1b is use1-az3, where CloudFront VPC origins are not offered
    # WHEN the local environment is deployed to it from scratch (bootstrap, preflight, deploy)
    result = cli(state_dir, "local", "up")
    # THEN it succeeds: the subnets name their zones by id, so the load balancer and its VPC origin
    # are on use1-az1 and use1-az2 whatever the account calls them
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    status = control.status(state_dir / "emulator")
    assert status.endpoint
    assert control.log_problems(status.log_path) == []
    import boto3

    ec2 = boto3.client(
        "ec2",
        endpoint_url=status.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    platform = ec2.describe_subnets(Filters=[{"Name": "tag-key", "Values": ["aws-cdk:subnet-name"]}])
    zone_ids = {subnet["AvailabilityZoneId"] for subnet in platform["Subnets"]}
    assert "use1-az3" not in zone_ids and {"use1-az1", "use1-az2"} <= zone_ids
