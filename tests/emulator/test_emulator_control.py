"""Starting, finding and stopping the emulator process, and reading its log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import control
from tests.emulator.emulator_testlib import Emulator


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    control.stop(tmp_path)


def _listening_addresses(port: int) -> list[str]:
    """Local addresses of listening TCP sockets on port, from /proc/net/tcp{,6}."""
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":
                addresses.append(address)
    return addresses


def test_start_status_stop(state_dir: Path) -> None:
    assert control.status(state_dir).running is False
    started = control.start(state_dir)
    assert started.running and started.pid and started.endpoint
    assert started.endpoint.startswith("http://127.0.0.1:")
    assert started.log_path == state_dir / "emulator.log"
    state = json.loads((state_dir / "emulator.json").read_text())
    assert state["pid"] == started.pid and started.endpoint.endswith(f":{state['port']}")

    assert control.start(state_dir) == started
    assert control.status(state_dir) == started

    port = int(started.endpoint.rsplit(":", 1)[1])
    assert _listening_addresses(port) == ["0100007F"]

    assert control.stop(state_dir) is True
    assert control.status(state_dir).running is False
    assert not (state_dir / "emulator.json").exists()
    assert control.stop(state_dir) is False


@pytest.mark.slow  # starts, kills and restarts an emulator: about 7 s
def test_stale_state_is_replaced(state_dir: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (state_dir / "emulator.json").write_text(json.dumps({"pid": int(dead.stdout), "port": 1}))
    assert control.status(state_dir).running is False
    started = control.start(state_dir)
    assert started.running and started.pid != int(dead.stdout)
    control.stop(state_dir)

    # A live process that is not ours (here: this test) is never signalled.
    (state_dir / "emulator.json").write_text(json.dumps({"pid": os.getpid(), "port": 1}))
    assert control.stop(state_dir) is False
    (state_dir / "emulator.json").write_text(json.dumps({"pid": os.getpid(), "port": 1}))
    started = control.start(state_dir)
    assert started.running and started.pid != os.getpid()
    assert control.stop(state_dir) is True

    (state_dir / "emulator.json").write_text("not json")
    assert control.status(state_dir).running is False
    assert control.stop(state_dir) is False


def test_server_refuses_non_loopback_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulator.server", "--port", "1", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode != 0 and "loopback" in result.stderr


def test_client_environment() -> None:
    env = control.client_environment("http://127.0.0.1:1234", "eu-west-1")
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1234"
    assert env["AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION"] == "https://s3.eu-west-1.amazonaws.com"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert env["CDK_DEFAULT_ACCOUNT"] == control.ACCOUNT_ID == "123456789012"


def test_log_problems_reports_500s_and_tracebacks(tmp_path: Path) -> None:
    log = tmp_path / "emulator.log"
    log.write_text(
        '127.0.0.1 - - [x] "POST / HTTP/1.1" 200 -\n'
        'INFO werkzeug: 127.0.0.1 - - [x] "\x1b[35m\x1b[1mPOST /?Action=Boom HTTP/1.1\x1b[0m" 500 -\n'
        "ERROR werkzeug: Error on request:\n"
        "Traceback (most recent call last):\n"
        '  File "/x/moto/rds/models.py", line 12, in create\n'
        "    raise KeyError('Name')\n"
        "KeyError: 'Name'\n"
        '127.0.0.1 - - [x] "GET /b HTTP/1.1" 404 -\n'
    )
    assert control.log_problems(log) == [
        "HTTP 500 on POST /?Action=Boom",
        "traceback: KeyError: 'Name' (at models.py:12 in create)",
    ]
    assert control.log_problems(log, control.log_size(log)) == []
    assert control.log_problems(tmp_path / "missing.log") == []
    assert control.log_size(tmp_path / "missing.log") == 0


def test_session_emulator_log_is_clean(emulator: Emulator) -> None:
    assert control.status(emulator.state_dir).running
    assert control.log_problems(emulator.log_path) == []
