"""Faults: the emulator killed in the middle of a deploy gives a clear error, and the next
`local up` converges. Uses an emulator of its own so the shared platform is not disturbed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from blog_infra.exit_codes import ExitCode
from emulator import control

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def cli(state_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "blog_infra.cli", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "BLOG_INFRA_STATE_DIR": str(state_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def platform_stack_being_created(endpoint: str) -> bool:
    """The platform stack's change set is executing (CREATE_IN_PROGRESS): a stack that only exists may
    still be REVIEW_IN_PROGRESS, with the change set just prepared and not yet executed."""
    client = boto3.client(
        "cloudformation",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    try:
        stacks = client.describe_stacks(StackName="blog-local")["Stacks"]
        return any(stack["StackStatus"] == "CREATE_IN_PROGRESS" for stack in stacks)
    except Exception:
        return False


def test_emulator_killed_mid_deploy_then_up_converges(tmp_path: Path) -> None:
    state = tmp_path / "state"
    emulator_state = state / "emulator"
    try:
        run_scenario(state, emulator_state)
    finally:
        control.stop(emulator_state)


def run_scenario(state: Path, emulator_state: Path) -> None:
    # GIVEN a first `local up` in progress
    first = cli(state, "local", "up")
    try:
        deadline = time.monotonic() + 300
        killed = False
        while time.monotonic() < deadline and first.poll() is None:
            status = control.status(emulator_state)
            executing = status.running and status.endpoint and platform_stack_being_created(status.endpoint)
            if executing and status.pid:
                # WHEN the emulator dies while the platform stack is being created
                os.kill(status.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.2)
        if not killed:
            first.kill()
        out, err = first.communicate(timeout=300)
        assert killed, f"the deploy never reached the platform stack:\n{out}\n{err}"
    finally:
        if first.poll() is None:
            first.kill()
    # THEN the command fails with one clear line, and no traceback
    assert first.returncode == ExitCode.UNAVAILABLE, out + err
    assert "Traceback" not in err
    assert "the local emulator stopped during the deploy of blog-local" in err
    # AND the next `local up` starts over and converges
    second = cli(state, "local", "up")
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, out + err
    assert "Deployed blog-local" in out
