"""The managed services a task talks to, as real servers on 127.0.0.1 that insist on TLS.

- `TlsPostgres`: Debian's PostgreSQL, accepting only TLS connections with SCRAM-SHA-256 (as Aurora
  with `rds.force_ssl` does), run as `nobody` because PostgreSQL refuses to run as root.
- `TlsRedis`: Debian's redis-server with only a TLS port and a password (as ElastiCache with
  in-transit encryption and an AUTH token).
- `HttpsFiles`: an HTTPS server for files a task downloads at start (the RDS CA bundle).

Each server's certificate is signed by a `CertificateAuthority` and names the host the task reaches
it by; the task resolves that name to 127.0.0.1 through the sandbox's /etc/hosts.
"""

from __future__ import annotations

import http.server
import os
import pwd
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from blog_infra.sandbox.tls import CertificateAuthority

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
REDIS_SERVER = Path("/usr/bin/redis-server")
SERVICE_ACCOUNT = "nobody"
MASTER_USER = "blog_admin"
"""Aurora's master login (core/rds); the bootstrap runs as it."""


class ServiceError(Exception):
    """A server could not be started; the message says which and why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, *, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Return once 127.0.0.1:`port` accepts connections; raise ServiceError on timeout or exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceError(f"the server for port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise ServiceError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")


def ensure_free(port: int, *, what: str) -> None:
    """Raise ServiceError when something already listens on 127.0.0.1:`port` (a leftover server)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise ServiceError(f"{what}: port {port} on 127.0.0.1 is already in use; stop what listens there")


def _account() -> pwd.struct_passwd:
    return pwd.getpwnam(SERVICE_ACCOUNT)


def _spawn_as_service(command: list[str], directory: Path) -> subprocess.Popen[bytes]:
    """Start a server as `SERVICE_ACCOUNT` in `directory`, its output appended to `<name>.log` there."""
    account = _account()
    with open(directory / f"{Path(command[0]).name}.log", "ab") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            user=account.pw_uid,
            group=account.pw_gid,
            extra_groups=[],
            cwd=directory,
        )


def _stop(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class TlsPostgres:
    """PostgreSQL 15 listening on 127.0.0.1 for TLS connections only.

    `host` is the name clients use (and the certificate's name); the master login is `MASTER_USER`
    with `master_password`. Data lives under `directory`, which `nobody` must be able to traverse.
    """

    def __init__(
        self, directory: Path, ca: CertificateAuthority, *, host: str, gateway: str | None = None
    ) -> None:
        if not (POSTGRES_BIN / "postgres").exists():
            raise ServiceError(
                f"PostgreSQL 15 is not installed ({POSTGRES_BIN}); apt-get install postgresql-15"
            )
        self.directory = directory
        self.ca = ca
        self.host = host
        self.gateway = gateway
        """This machine's address on the task networks (`network.TaskNetworks`), listened on too."""
        self.port = free_port()
        self.master_password = secrets.token_urlsafe(24)
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TlsPostgres:
        account = _account()
        owner = (account.pw_uid, account.pw_gid)
        data = self.directory / "data"
        sockets = self.directory / "sockets"
        self.directory.mkdir(parents=True, exist_ok=True)
        sockets.mkdir(exist_ok=True)
        os.chown(self.directory, *owner)
        os.chown(sockets, *owner)
        certificate = self.ca.issue("postgres", (self.host, "127.0.0.1"), owner=owner)
        password_file = self.directory / "master-password"
        password_file.write_text(self.master_password)
        os.chown(password_file, *owner)
        password_file.chmod(0o600)
        self._as_service(
            [
                str(POSTGRES_BIN / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                MASTER_USER,
                "--auth",
                "scram-sha-256",
                "--pwfile",
                str(password_file),
                "--encoding",
                "UTF8",
                "--no-sync",
            ]
        )
        password_file.unlink()
        settings = {
            "listen_addresses": f"'{','.join(['127.0.0.1', *([self.gateway] if self.gateway else [])])}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{sockets}'",
            "ssl": "on",
            "ssl_cert_file": f"'{certificate.certificate}'",
            "ssl_key_file": f"'{certificate.key}'",
            "ssl_min_protocol_version": "'TLSv1.2'",
            "password_encryption": "'scram-sha-256'",
            "fsync": "off",
            "max_connections": "200",
        }
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        (data / "pg_hba.conf").write_text(
            "# TLS only, as Aurora with rds.force_ssl: a plain connection matches no line.\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n"
            + (f"hostssl all all {self.gateway}/24 scram-sha-256\n" if self.gateway else "")
        )
        self._process = _spawn_as_service([str(POSTGRES_BIN / "postgres"), "-D", str(data)], self.directory)
        wait_for_port(self.port, timeout=30, process=self._process)
        self._wait_ready(timeout=30)
        return self

    def _wait_ready(self, *, timeout: float) -> None:
        """The port opens before recovery ends ("the database system is starting up"): wait until
        the server accepts sessions, as pg_isready reports it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise ServiceError(f"PostgreSQL exited with {self._process.returncode}")
            ready = subprocess.run(
                [str(POSTGRES_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
                timeout=10,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise ServiceError(
            f"PostgreSQL on 127.0.0.1:{self.port} did not accept sessions within {timeout:.0f} s"
        )

    def __exit__(self, *exc: object) -> None:
        _stop(self._process)

    def _as_service(self, command: list[str]) -> None:
        account = _account()
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            user=account.pw_uid,
            group=account.pw_gid,
            extra_groups=[],
            cwd=self.directory,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"{Path(command[0]).name} failed: {result.stderr.strip()[-400:]}")

    def connect(self, user: str, password: str, database: str = "postgres", *, tls: bool = True) -> Any:
        """A pg8000 connection; with `tls`, the server's certificate is verified against the CA."""
        import pg8000.native

        context: ssl.SSLContext | None = None
        if tls:
            context = ssl.create_default_context(cafile=str(self.ca.bundle))
            context.check_hostname = False
        return pg8000.native.Connection(
            user=user,
            password=password,
            host="127.0.0.1",
            port=self.port,
            database=database,
            ssl_context=context,
            timeout=10,
        )

    def execute(self, sql: str, database: str) -> list[tuple[object, ...]]:
        """Run `sql` in `database` as the master login in its own session (the bootstrap's Executor)."""
        connection = self.connect(MASTER_USER, self.master_password, database)
        try:
            rows = connection.run(sql)
        finally:
            connection.close()
        return [tuple(row) for row in rows or []]


class TlsRedis:
    """redis-server with a TLS port only (the plain port is disabled) and a password."""

    def __init__(
        self,
        directory: Path,
        ca: CertificateAuthority,
        *,
        host: str,
        port: int,
        password: str,
        gateway: str | None = None,
    ) -> None:
        if not REDIS_SERVER.exists():
            raise ServiceError(
                f"redis-server is not installed ({REDIS_SERVER}); apt-get install redis-server"
            )
        self.directory = directory
        self.ca = ca
        self.host = host
        self.port = port
        self.password = password
        self.gateway = gateway
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TlsRedis:
        ensure_free(self.port, what="Redis")
        account = _account()
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chown(self.directory, account.pw_uid, account.pw_gid)
        certificate = self.ca.issue("redis", (self.host, "127.0.0.1"), owner=(account.pw_uid, account.pw_gid))
        config = self.directory / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "port 0",
                    " ".join(["bind 127.0.0.1", *([self.gateway] if self.gateway else [])]),
                    f"tls-port {self.port}",
                    f"tls-cert-file {certificate.certificate}",
                    f"tls-key-file {certificate.key}",
                    f"tls-ca-cert-file {self.ca.bundle}",
                    "tls-auth-clients no",
                    f"requirepass {self.password}",
                    f"dir {self.directory}",
                    "save ''",
                    "appendonly no",
                    "",
                ]
            )
        )
        os.chown(config, account.pw_uid, account.pw_gid)
        config.chmod(0o600)
        self._config = config
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server (again, after `stop`: an empty Redis, as a replaced node without snapshots)."""
        self._process = _spawn_as_service([str(REDIS_SERVER), str(self._config)], self.directory)
        wait_for_port(self.port, timeout=15, process=self._process)

    def stop(self) -> None:
        _stop(self._process)

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None


class _Handler(http.server.SimpleHTTPRequestHandler):
    files: Mapping[str, Path] = {}

    def do_GET(self) -> None:
        path = self.files.get(self.path)
        if path is None:
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class HttpsFiles:
    """Serves `files` (URL path -> file) over HTTPS on 127.0.0.1:443 (and `gateway`:443) as `host`."""

    def __init__(
        self,
        ca: CertificateAuthority,
        *,
        host: str,
        files: Mapping[str, Path],
        port: int = 443,
        gateway: str | None = None,
    ) -> None:
        self.ca = ca
        self.host = host
        self.port = port
        handler = type("Handler", (_Handler,), {"files": dict(files)})
        certificate = ca.issue(f"https-{host}", (host,))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate.certificate, certificate.key)
        self._servers = []
        for address in ["127.0.0.1", *([gateway] if gateway else [])]:
            server = http.server.ThreadingHTTPServer((address, port), handler)
            server.socket = context.wrap_socket(server.socket, server_side=True)
            self._servers.append(server)
        self._threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in self._servers]

    def __enter__(self) -> HttpsFiles:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()


def copy_readable(source: Path, destination: Path) -> Path:
    """Copy `source` to `destination` readable by everyone (for files a container user reads)."""
    shutil.copyfile(source, destination)
    destination.chmod(0o644)
    return destination
