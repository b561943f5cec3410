"""Start, find and stop the embedded local AWS (one moto server process per state directory).

The server runs detached in its own session so that it outlives the command that started it; its pid
and port are kept in ``state_dir/emulator.json`` and its output in ``state_dir/emulator.log``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from emulator.shape import SHAPE_FILE, EmulatorShape, ShapeError

ACCOUNT_ID = "123456789012"
HOST = "127.0.0.1"
HEALTH_PATH = "/_emulator/health"
STATE_FILE = "emulator.json"
LOG_FILE = "emulator.log"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
LOG_ROTATE_BYTES = 20 * 1024 * 1024

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class EmulatorStatus:
    running: bool
    endpoint: str | None
    pid: int | None
    log_path: Path


class EmulatorError(Exception):
    """A problem with the local emulator, with a one-line message that says what to do."""


@dataclass(frozen=True)
class _State:
    pid: int
    port: int


def _state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def _log_path(state_dir: Path) -> Path:
    return state_dir / LOG_FILE


def _read_state(state_dir: Path) -> _State | None:
    try:
        data = json.loads(_state_path(state_dir).read_text(encoding="utf-8"))
        return _State(pid=int(data["pid"]), port=int(data["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_state(state_dir: Path, state: _State) -> None:
    tmp = _state_path(state_dir).with_suffix(".json.tmp")
    payload = {"pid": state.pid, "port": state.port, "endpoint": _endpoint(state.port)}
    tmp.write_text(json.dumps(payload) + "\n", encoding="utf-8")
    tmp.replace(_state_path(state_dir))


def _remove_state(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        _state_path(state_dir).unlink()


def _endpoint(port: int) -> str:
    return f"http://{HOST}:{port}"


def _reap(pid: int) -> None:
    """Collect an exited child so that it does not linger as a zombie that still looks alive."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is not None:
            _children.pop(pid, None)
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def alive(pid: int) -> bool:
    """Whether `pid` runs (not gone, not a zombie; a child of ours is reaped first)."""
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_ours(pid: int, port: int) -> bool:
    """Whether pid is an emulator server for this port (a recycled pid must never be signalled)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _health_pid(port) == pid
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    return "emulator.server" in args and str(port) in args


def _health_pid(port: int, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(f"{_endpoint(port)}{HEALTH_PATH}", timeout=timeout) as response:
            data = json.loads(response.read().decode("utf-8"))
        return int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError, urllib.error.URLError):
        return None


def _healthy(state: _State) -> bool:
    return alive(state.pid) and _is_ours(state.pid, state.port) and _health_pid(state.port) == state.pid


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _terminate(pid: int) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it has not gone after a grace period."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(pid):
                _children.pop(pid, None)
                return
            time.sleep(0.05)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())


def _rotate_log(log_path: Path) -> None:
    with contextlib.suppress(OSError):
        if log_path.stat().st_size > LOG_ROTATE_BYTES:
            log_path.replace(log_path.with_name(log_path.name + ".1"))


def status(state_dir: Path) -> EmulatorStatus:
    """Report whether the emulator of state_dir runs and answers; never changes anything."""
    log_path = _log_path(state_dir)
    state = _read_state(state_dir)
    if state is None or not _healthy(state):
        return EmulatorStatus(running=False, endpoint=None, pid=None, log_path=log_path)
    return EmulatorStatus(running=True, endpoint=_endpoint(state.port), pid=state.pid, log_path=log_path)


def exited(state_dir: Path) -> bool:
    """Whether the emulator of state_dir is known to have gone: no state, or its process exited.
    Cheap (no request to the server), so it can be polled while a command talks to the emulator; a
    busy server that is slow to answer is not taken for a dead one."""
    state = _read_state(state_dir)
    return state is None or not alive(state.pid) or not _is_ours(state.pid, state.port)


def running_shape(state_dir: Path) -> EmulatorShape:
    """The account shape the emulator of state_dir was started with (the default one if none was set)."""
    path = state_dir / SHAPE_FILE
    if not path.exists():
        return EmulatorShape()
    try:
        return EmulatorShape.read(path)
    except ShapeError as exc:
        raise EmulatorError(f"{exc}; stop the emulator and start it again") from None


def start(state_dir: Path, shape: EmulatorShape | None = None) -> EmulatorStatus:
    """Return the running emulator of state_dir, or start one on a free loopback port and wait for it.

    `shape` (`emulator.shape`) is the account the emulator behaves as; None takes the running one's,
    or the default shape for a new one. A running emulator of another shape is an error: its state
    would be lost by a restart, so the caller stops it first.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = _log_path(state_dir)
    state = _read_state(state_dir)
    if state is not None:
        if _healthy(state):
            if shape is not None and running_shape(state_dir) != shape:
                raise EmulatorError(
                    f"the local emulator in {state_dir} runs with the account shape "
                    f"{running_shape(state_dir).to_json()}, not {shape.to_json()}; stop it first"
                )
            return EmulatorStatus(True, _endpoint(state.port), state.pid, log_path)
        if alive(state.pid) and _is_ours(state.pid, state.port):
            _terminate(state.pid)
        _remove_state(state_dir)
    elif _state_path(state_dir).exists():
        _remove_state(state_dir)

    _rotate_log(log_path)
    shape_path = state_dir / SHAPE_FILE
    shape_path.write_text((shape or EmulatorShape()).to_json() + "\n", encoding="utf-8")
    port = _free_port()
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "emulator.server",
                "--port",
                str(port),
                "--host",
                HOST,
                "--shape",
                str(shape_path.resolve()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(state_dir),
            env=env,
            start_new_session=True,
        )
    _children[child.pid] = child
    state = _State(pid=child.pid, port=port)
    _write_state(state_dir, state)

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.poll() is not None:
            _children.pop(child.pid, None)
            _remove_state(state_dir)
            raise EmulatorError(
                f"the local emulator exited at start (code {child.returncode}); see {log_path}: "
                f"{_tail(log_path)}"
            )
        if _health_pid(port, timeout=1.0) == child.pid:
            return EmulatorStatus(True, _endpoint(port), child.pid, log_path)
        time.sleep(0.1)
    _terminate(child.pid)
    _remove_state(state_dir)
    raise EmulatorError(
        f"the local emulator did not answer on {HOST}:{port} within {START_TIMEOUT_S:.0f}s; see {log_path}"
    )


def stop(state_dir: Path) -> bool:
    """Stop the emulator of state_dir; True if a process was stopped. Its state is removed either way."""
    state = _read_state(state_dir)
    stopped = False
    if state is not None and alive(state.pid) and _is_ours(state.pid, state.port):
        _terminate(state.pid)
        if alive(state.pid):
            raise EmulatorError(f"could not stop the local emulator (pid {state.pid}); kill it by hand")
        stopped = True
    _remove_state(state_dir)
    return stopped


def client_environment(endpoint: str, region: str) -> dict[str, str]:
    """Environment variables that point the AWS CLI, boto3 and the CDK CLI at the emulator.

    Callers should drop inherited ``AWS_*`` variables (profiles, session tokens) before merging
    these in. The config and credential files are pointed at the null device so that a developer's
    own profiles, SSO sessions or credential processes can never be picked up. The CDK CLI builds
    the template URL it hands to CloudFormation from ``AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION``;
    moto reads bucket and key correctly from the path-style AWS URL, while a loopback URL would be
    misread, so that variable is set to the region's public S3 endpoint.
    """
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION": f"https://s3.{region}.amazonaws.com",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_PAGER": "",
        "CDK_DEFAULT_ACCOUNT": ACCOUNT_ID,
        "CDK_DEFAULT_REGION": region,
    }


_HTTP_5XX = re.compile(r'"(?P<request>[A-Z]+ \S+)[^"]*" (?P<code>5\d\d) ')
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TRACEBACK = "Traceback (most recent call last):"
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')


def log_size(log_path: Path) -> int:
    """Current size of the log in bytes (0 if missing): take it before a run, pass it to log_problems."""
    try:
        return log_path.stat().st_size
    except OSError:
        return 0


def log_problems(log_path: Path, offset: int = 0) -> list[str]:
    """One line per HTTP 5xx answer or Python traceback logged since byte offset.

    moto can answer 500 or swallow an exception and still let a deploy end as complete, so a run
    against the emulator only counts as good if this list is empty.
    """
    try:
        with open(log_path, "rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    problems: list[str] = []
    lines = _ANSI.sub("", text).splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if _TRACEBACK in line:
            frame = ""
            index += 1
            while index < len(lines) and (lines[index][:1].isspace() or not lines[index].strip()):
                match = _FRAME.match(lines[index])
                if match:
                    frame = f"{Path(match['file']).name}:{match['line']} in {match['func']}"
                index += 1
            error = lines[index].strip() if index < len(lines) else "(truncated)"
            problems.append(f"traceback: {error}" + (f" (at {frame})" if frame else ""))
            index += 1
            continue
        match = _HTTP_5XX.search(line)
        if match:
            problems.append(f"HTTP {match['code']} on {match['request']}")
        index += 1
    return problems
