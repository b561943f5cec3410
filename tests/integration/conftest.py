"""The local platform deployed once, for real, to an emulator the tests start themselves."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from emulator import control

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LocalPlatform:
    state_dir: Path
    endpoint: str
    up_output: str

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "blog_infra.cli", *args],
            cwd=REPO_ROOT,
            env={**os.environ, "BLOG_INFRA_STATE_DIR": str(self.state_dir)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"blog-infra {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    state_dir = tmp_path_factory.mktemp("state")
    bootstrap = LocalPlatform(state_dir=state_dir, endpoint="", up_output="")
    try:
        up = bootstrap.cli("local", "up")
        status = control.status(state_dir / "emulator")
        assert status.running and status.endpoint
        yield LocalPlatform(state_dir=state_dir, endpoint=status.endpoint, up_output=up.stdout)
    finally:
        control.stop(state_dir / "emulator")
