"""Task networks as ECS's `awsvpc` mode gives them: each task its own network stack and address.

On Fargate every task has its own elastic network interface, so two replicas of a service both
listen on their container port and a load balancer (or Cloud Map) spreads clients over them. Here,
`TaskNetworks` makes a Linux bridge with an address of this machine's (`gateway`), and for each task
a network namespace with a veth interface on that bridge and an address of its own. A container
started in that namespace (`container.start(..., netns=...)`) binds its port there, reaches the
servers that stand in for AWS's managed services at `gateway` (they listen there too), and is reached
by this machine at its own address.

`RoundRobin` stands in for the Application Load Balancer and Cloud Map in front of the replicas: it
accepts TCP connections on the addresses clients use and hands each new connection to the next
replica in turn (a client that keeps a connection open keeps its replica, as behind an ALB's
keep-alive or a cached DNS answer).

Needs root and iproute2 (`ip`).
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

SUBNET_PREFIX = "10.250"
"""Each TaskNetworks takes a /24 of 10.250.0.0/16 that no route of this machine's uses."""


class NetworkError(Exception):
    """A task network could not be made; the message names the `ip` command and its error."""


def _ip(*arguments: str) -> None:
    result = subprocess.run(["ip", *arguments], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NetworkError(f"ip {' '.join(arguments)}: {result.stderr.strip()}")


def _routes() -> str:
    return subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout


@dataclass(frozen=True)
class TaskNetwork:
    """One task's network namespace and its address on the bridge."""

    netns: str
    address: str


@dataclass
class TaskNetworks:
    """A bridge with this machine at `gateway`, and one namespace per task (`add`)."""

    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    third_octet: int = 0
    gateway: str = ""
    tasks: list[TaskNetwork] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"bsb{self.tag}"

    def __enter__(self) -> TaskNetworks:
        used = _routes()
        free = [n for n in range(1, 255) if f"{SUBNET_PREFIX}.{n}.0/24" not in used]
        if not free:
            raise NetworkError(f"every /24 of {SUBNET_PREFIX}.0.0/16 is routed already")
        self.third_octet = free[secrets.randbelow(len(free))]
        self.gateway = f"{SUBNET_PREFIX}.{self.third_octet}.1"
        _ip("link", "add", self.bridge, "type", "bridge")
        try:
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        except NetworkError:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self) -> TaskNetwork:
        """A new task's namespace, its interface up with the next address, routed through `gateway`."""
        number = len(self.tasks) + 1
        address = f"{SUBNET_PREFIX}.{self.third_octet}.{10 + number}"
        task = TaskNetwork(netns=f"{self.bridge}-{number}", address=address)
        host_side = f"{self.bridge}v{number}"
        _ip("netns", "add", task.netns)
        self.tasks.append(task)
        _ip("link", "add", host_side, "type", "veth", "peer", "name", "eth0", "netns", task.netns)
        _ip("link", "set", host_side, "master", self.bridge, "up")
        _ip("-n", task.netns, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", task.netns, "link", "set", "eth0", "up")
        _ip("-n", task.netns, "link", "set", "lo", "up")
        _ip("-n", task.netns, "route", "add", "default", "via", self.gateway)
        return task

    def close(self) -> None:
        for task in reversed(self.tasks):
            with contextlib.suppress(NetworkError):
                _ip("netns", "del", task.netns)
        self.tasks.clear()
        with contextlib.suppress(NetworkError):
            _ip("link", "del", self.bridge)


class RoundRobin:
    """A TCP stand-in for the load balancer: each accepted connection goes to the next target."""

    def __init__(self, listen: Sequence[tuple[str, int]], targets: Sequence[tuple[str, int]]) -> None:
        if not targets:
            raise ValueError("RoundRobin needs at least one target")
        self.targets = list(targets)
        self.connections = [0] * len(self.targets)
        """How many connections each target was given."""
        self._next = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listeners: list[socket.socket] = []
        for address in listen:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(128)
            self._listeners.append(listener)
        self._threads = [
            threading.Thread(target=self._accept, args=(socket_,), daemon=True) for socket_ in self._listeners
        ]

    def __enter__(self) -> RoundRobin:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while not self._closed.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                index = self._next
                self._next = (self._next + 1) % len(self.targets)
                self.connections[index] += 1
            threading.Thread(target=self._serve, args=(client, self.targets[index]), daemon=True).start()

    @staticmethod
    def _serve(client: socket.socket, target: tuple[str, int]) -> None:
        try:
            upstream = socket.create_connection(target, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)

        def pump(source: socket.socket, sink: socket.socket) -> None:
            try:
                while chunk := source.recv(65536):
                    sink.sendall(chunk)
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)

        back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        back.start()
        pump(client, upstream)
        back.join()
        client.close()
        upstream.close()
