"""Start a process the way ECS starts a container: its user, a read-only root, its tmpfs, its hosts.

`start(spec)` runs `unshare --mount --pid --fork` (a PID namespace of its own, so that the image's
init is PID 1 and every process of the container ends with it) with `python -m
blog_infra.sandbox.launch`, which (as root, in the new mount namespace only) gives a container
without a read-only root its writable layer (every top-level directory overlaid on a tmpfs, so
nothing it writes reaches this machine), mounts empty homes over /root and /home (the image's, not
this machine's), binds the hosts file, the read-only files and directories the image carries,
remounts `/` read-only for a read-only container, mounts each tmpfs, and then
executes the command through `setpriv` as the container's uid/gid with no supplementary groups, no
capabilities (inheritable, ambient or bounding) and no new privileges, with exactly the container's
environment (nothing inherited). `exec_in` runs another command in the same namespaces as the same
user: a container health check, or a probe of what the container sees.

The host's network is shared: the container reaches servers on 127.0.0.1, and the hosts file maps
the names it uses (database, Redis, Cloud Map) there; or, with `netns`, the task has a network of
its own, as in ECS's awsvpc mode (`network.TaskNetworks`), and `exec_in` enters it too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from blog_infra.sandbox.taskdef import Tmpfs


@dataclass(frozen=True)
class ContainerSpec:
    """Everything a started container is: what runs, as whom, on which filesystem."""

    name: str
    argv: tuple[str, ...]
    environment: Mapping[str, str]
    user: tuple[int, int]
    read_only_root: bool
    tmpfs: tuple[Tmpfs, ...]
    hosts: Mapping[str, str]
    """Host name -> address, written as the container's /etc/hosts."""
    files: Mapping[str, Path] = field(default_factory=dict)
    """Path in the container -> file on this machine, bound read-only (files the image carries)."""
    working_directory: str = "/"
    netns: str | None = None
    """Network namespace of the task (`network.TaskNetworks`); None: this machine's network."""
    directories: Mapping[str, Path] = field(default_factory=dict)
    """Path in the container -> directory on this machine, bound read-only (a volume, or what the
    image holds); a path this machine lacks is made in the container's mount namespace only."""


WRITABLE_LAYER_MIB = 20 * 1024
"""The size of a container's writable layer (a tmpfs: memory is used only as it is written); Fargate's
default ephemeral storage is 20 GiB."""


def parse_user(value: str | None) -> tuple[int, int]:
    """ECS's `user` ("uid", "uid:gid"); None is the image's root."""
    if value is None:
        return (0, 0)
    uid, _, gid = value.partition(":")
    return (int(uid), int(gid or uid))


class Container:
    """A started container: its process, its log, and commands run inside it."""

    def __init__(self, spec: ContainerSpec, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.spec = spec
        self.process = process
        self.log_path = log_path
        self.started = time.monotonic()
        self._init_pid: int | None = None

    @property
    def pid(self) -> int:
        """The container's PID 1 (in this machine's numbering): what `docker stop` signals."""
        if self._init_pid is None:
            deadline = time.monotonic() + 10
            while self._init_pid is None and time.monotonic() < deadline:
                children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
                with contextlib.suppress(OSError):
                    found = children.read_text().split()
                    if found:
                        self._init_pid = int(found[0])
                        break
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
            if self._init_pid is None:
                raise ProcessLookupError(f"{self.spec.name}: the container's init process is gone")
        return self._init_pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def exec_in(self, argv: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run `argv` in the container's mount namespace, as its user, with its environment."""
        uid, gid = self.spec.user
        command = [
            "nsenter",
            f"--target={self.pid}",
            "--mount",
            "--pid",
            "--net",
            "--",
            *_setpriv(uid, gid),
            *argv,
        ]
        return subprocess.run(
            command,
            env=dict(self.spec.environment),
            cwd="/",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def health_check(self, command: tuple[str, ...], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run an ECS health-check command (`CMD` argv or `CMD-SHELL` string) inside the container."""
        kind, *rest = command
        if kind == "CMD":
            argv = list(rest)
        elif kind == "CMD-SHELL":
            argv = ["/bin/sh", "-c", " ".join(rest)]
        else:
            raise ValueError(f"health-check command must start with CMD or CMD-SHELL, got {kind!r}")
        return self.exec_in(argv, timeout=timeout)

    def stop(self, timeout: float) -> float | None:
        """Send SIGTERM (as `docker stop` does) and wait up to `timeout` s; the seconds it took to exit,
        or None if it had to be killed with SIGKILL."""
        if not self.running():
            return 0.0
        began = time.monotonic()
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        return time.monotonic() - began

    def kill(self) -> None:
        """SIGKILL the container's PID 1: the kernel then kills every process of its PID namespace."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait()


def _setpriv(uid: int, gid: int) -> list[str]:
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--ambient-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def start(spec: ContainerSpec, *, workdir: Path) -> Container:
    """Start `spec` in its own mount namespace; its output goes to `<workdir>/<name>.log`."""
    if os.geteuid() != 0:
        raise PermissionError("the sandbox needs root: mount namespaces and setpriv")
    workdir.mkdir(parents=True, exist_ok=True)
    hosts = workdir / f"{spec.name}.hosts"
    hosts.write_text(
        "127.0.0.1 localhost\n::1 localhost\n"
        + "".join(f"{address} {name}\n" for name, address in sorted(spec.hosts.items()))
    )
    hosts.chmod(0o644)
    plan = {
        "tmpfs": [{"path": m.path, "size_mib": m.size_mib, "options": list(m.options)} for m in spec.tmpfs],
        "binds": {"/etc/hosts": str(hosts), **{target: str(source) for target, source in spec.files.items()}},
        "directories": {target: str(source) for target, source in spec.directories.items()},
        "scratch": str(workdir / f"{spec.name}.layers"),
        "layer_mib": WRITABLE_LAYER_MIB,
        "read_only_root": spec.read_only_root,
        "setpriv": _setpriv(*spec.user),
        "argv": list(spec.argv),
        "environment": dict(spec.environment),
        "cwd": spec.working_directory,
    }
    plan_path = workdir / f"{spec.name}.plan.json"
    plan_path.write_text(json.dumps(plan))
    plan_path.chmod(0o600)
    log_path = workdir / f"{spec.name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                *([] if spec.netns is None else ["nsenter", f"--net=/run/netns/{spec.netns}", "--"]),
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
                "--",
                sys.executable,
                "-m",
                "blog_infra.sandbox.launch",
                str(plan_path),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            start_new_session=True,
            cwd="/",
        )
    return Container(spec, process, log_path)
