"""A synthesized stack's services, started here in the order ECS would start them.

`SandboxPlatform(template, ...)` resolves the template's containers, creates its secrets as a fresh
deployment would, starts what the tasks talk to (a TLS-only PostgreSQL named as the Aurora endpoint,
a TLS + password Redis named as the ElastiCache endpoint when the template has one, an HTTPS server
for the RDS CA bundle's address), runs the Aurora bootstrap's own code against that PostgreSQL, and
then starts containers with exactly their task definition's command, environment and secrets.

What ECS adds to every Fargate container (`AWS_REGION`, `AWS_DEFAULT_REGION`, `AWS_EXECUTION_ENV`)
is added. With an emulator, AWS's endpoints are the emulator's (`AWS_ENDPOINT_URL`) and each container
of a task definition with a task role gets that role's session as ECS gives it
(`blog_infra.sandbox.credentials`: `AWS_CONTAINER_CREDENTIALS_FULL_URI` and an authorization token of
its own), issued by the emulator to `ecs-tasks.amazonaws.com` under the role's trust policy; a
container without a task role gets no credentials, as on ECS. A container in a task network of its
own (a replicated service's) gets none either: neither that endpoint nor the emulator, both on this
machine's loopback, can be reached from its network. With `secrets_in_emulator`, `secrets`
are read from the emulator's Secrets Manager with the task execution role's session, as ECS's agent
reads them. Stand-ins, because nothing here is AWS: the CA that signs every server certificate is bound
as the image's trust store (on AWS, the RDS bundle and Amazon's public CAs).
"""

from __future__ import annotations

import contextlib
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blog_infra.sandbox import container as sandbox_container
from blog_infra.sandbox import images, runtime
from blog_infra.sandbox.credentials import (
    ContainerCredentials,
    EmulatorIssuer,
    RoleRefused,
    RoleSession,
)
from blog_infra.sandbox.ecs_secrets import SecretStore, inject, retrieve, run_bootstrap
from blog_infra.sandbox.network import RoundRobin, TaskNetwork, TaskNetworks
from blog_infra.sandbox.services import HttpsFiles, TlsPostgres, TlsRedis, ensure_free
from blog_infra.sandbox.taskdef import Container, Resolver, TemplateError, containers
from blog_infra.sandbox.tls import CertificateAuthority

TRUST_STORE = "/etc/ssl/certs/ca-certificates.crt"
"""Debian's (and the python:slim images') CA bundle, which Python's default SSL context reads."""


class StartError(Exception):
    """A container did not become healthy; the message carries its last log lines."""


def unable_to_assume(role_arn: str) -> str:
    """ECS's reason when it cannot assume a task's role ("service X failed to launch a task with (error
    ECS was unable to assume the role ...)", as the service events quoted in aws-samples/
    aws-modern-application-workshop#149 and boto/boto3#1878 read)."""
    return (
        f"ECS was unable to assume the role '{role_arn}' that was provided for this task. Please verify "
        "that the role being passed has the proper trust relationship and permissions and that your "
        "IAM user has permissions to pass this role."
    )


@dataclass(frozen=True)
class TaskRoles:
    """A task's two roles (`taskRoleArn`, `executionRoleArn`), each None when the task has none."""

    task: str | None
    execution: str | None


@dataclass(frozen=True)
class Emulator:
    """The local AWS the worker talks to, and the access key that acts as the template's account."""

    endpoint: str
    access_key_id: str
    secret_access_key: str


def _only(template: Mapping[str, Any], kind: str) -> str | None:
    found = [logical_id for logical_id, resource in template["Resources"].items() if resource["Type"] == kind]
    if len(found) > 1:
        raise TemplateError(
            f"the template has {len(found)} {kind} resources; the sandbox expects at most one"
        )
    return found[0] if found else None


def desired_counts(template: Mapping[str, Any]) -> dict[str, int]:
    """Task definition -> the tasks its service starts (`DesiredCount`, 1 when the template omits it)."""
    return {
        resource["Properties"]["TaskDefinition"]["Ref"]: int(resource["Properties"].get("DesiredCount", 1))
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ECS::Service"
    }


def start_order(template: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(task definition, container) pairs in the order ECS would start them: services after the
    services they depend on (CloudFormation rolls them out in that order), containers of a task after
    the containers they depend on."""
    resources = template["Resources"]
    services = {
        logical_id: resource
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::ECS::Service"
    }
    ordered: list[str] = []

    def visit(logical_id: str, trail: tuple[str, ...]) -> None:
        if logical_id in ordered:
            return
        if logical_id in trail:
            raise TemplateError(f"services depend on each other in a cycle: {' -> '.join(trail)}")
        depends = resources[logical_id].get("DependsOn", [])
        for dependency in [depends] if isinstance(depends, str) else depends:
            if dependency in services:
                visit(dependency, (*trail, logical_id))
        ordered.append(logical_id)

    for logical_id in services:
        visit(logical_id, ())
    result: list[tuple[str, str]] = []
    for service in ordered:
        task = services[service]["Properties"]["TaskDefinition"]["Ref"]
        definitions = resources[task]["Properties"]["ContainerDefinitions"]
        started: list[str] = []
        pending = list(definitions)
        while pending:
            ready = [
                d for d in pending if all(dep["ContainerName"] in started for dep in d.get("DependsOn", []))
            ]
            if not ready:
                raise TemplateError(f"{task}: containers depend on each other in a cycle")
            for definition in ready:
                started.append(definition["Name"])
                pending.remove(definition)
        result.extend((task, name) for name in started)
    return result


class SandboxPlatform:
    """The servers a stack's tasks need, and its containers, on this machine."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        account: str,
        region: str,
        workdir: Path,
        ca: CertificateAuthority,
        emulator: Emulator | None = None,
        overrides: Mapping[str, str] | None = None,
        task_networks: bool = False,
        secrets: SecretStore | None = None,
        secrets_in_emulator: bool = False,
    ) -> None:
        self.template = template
        self.account = account
        self.region = region
        self.workdir = workdir
        self.ca = ca
        self.emulator = emulator
        self.overrides = dict(overrides or {})
        self.cluster = _only(template, "AWS::RDS::DBCluster")
        self.redis_group = _only(template, "AWS::ElastiCache::ReplicationGroup")
        self.postgres: TlsPostgres | None = None
        self.redis: TlsRedis | None = None
        self.resolver = Resolver(template, account=account, region=region, overrides=self.overrides)
        self.secrets = secrets if secrets is not None else SecretStore.fresh(template, self.resolver)
        """A fresh deployment's secret values (default), or those of a deployed stack."""
        self.secrets_in_emulator = secrets_in_emulator
        """The stack's secrets live in the emulator (a deployed stack): containers' `secrets` are read
        from it with the task's execution role."""
        self.credentials: ContainerCredentials | None = None
        """The containers' credentials endpoint, while the platform is open with an emulator."""
        self.hosts: dict[str, str] = {}
        self.started: list[sandbox_container.Container] = []
        self._stack = contextlib.ExitStack()
        self.definitions: dict[tuple[str, str], Container] = {}
        self.networks: TaskNetworks | None = TaskNetworks() if task_networks else None
        """With `task_networks`, tasks started with a network of their own (`network()`) sit on this
        bridge; the servers below listen on its gateway too."""

    def __enter__(self) -> SandboxPlatform:
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for started in reversed(self.started):
            if started.running():
                started.kill()
        self._stack.close()

    @property
    def gateway(self) -> str | None:
        return self.networks.gateway if self.networks is not None else None

    def _prepare(self) -> None:
        if self.networks is not None:
            self._stack.enter_context(self.networks)
        if self.emulator is not None:
            self.credentials = self._stack.enter_context(
                ContainerCredentials(EmulatorIssuer(self.emulator.endpoint, self.region))
            )
        if self.cluster is not None:
            host = self.resolver.get_att(self.cluster, "Endpoint.Address")
            self.postgres = self._stack.enter_context(
                TlsPostgres(self.workdir / "postgres", self.ca, host=host, gateway=self.gateway)
            )
            self.overrides[f"{self.cluster}.Endpoint.Port"] = str(self.postgres.port)
            self.hosts[host] = "127.0.0.1"
        self.resolver = Resolver(
            self.template, account=self.account, region=self.region, overrides=self.overrides
        )
        self.definitions = {
            (task, definition.name): definition
            for task, found in containers(self.template, self.resolver).items()
            for definition in found
        }
        environments = [definition.environment for definition in self.definitions.values()]
        for environment in environments:
            for value in environment.values():
                parsed = urllib.parse.urlparse(value)
                if parsed.scheme in ("http", "https") and parsed.hostname and parsed.hostname != "localhost":
                    self.hosts[parsed.hostname] = "127.0.0.1"
        if self.redis_group is not None:
            self._start_redis(environments)
        bundle_urls = {
            env["DATABASE_CA_BUNDLE_URL"] for env in environments if "DATABASE_CA_BUNDLE_URL" in env
        }
        for url in bundle_urls:
            parsed = urllib.parse.urlparse(url)
            if parsed.scheme != "https" or not parsed.hostname:
                raise TemplateError(f"DATABASE_CA_BUNDLE_URL {url!r} is not an https address")
            self._stack.enter_context(
                HttpsFiles(
                    self.ca, host=parsed.hostname, files={parsed.path: self.ca.bundle}, gateway=self.gateway
                )
            )
        if self.postgres is not None:
            self._bootstrap()

    def _start_redis(self, environments: list[Mapping[str, str]]) -> None:
        assert self.redis_group is not None
        host = self.resolver.get_att(self.redis_group, "PrimaryEndPoint.Address")
        port = int(self.resolver.get_att(self.redis_group, "PrimaryEndPoint.Port"))
        auth = self.template["Resources"][self.redis_group]["Properties"].get("AuthToken")
        secret_arn = self._secret_of_dynamic_reference(auth)
        self.redis = self._stack.enter_context(
            TlsRedis(
                self.workdir / "redis",
                self.ca,
                host=host,
                port=port,
                password=self.secrets.values[secret_arn],
                gateway=self.gateway,
            )
        )
        self.hosts[host] = "127.0.0.1"

    def _secret_of_dynamic_reference(self, value: Any) -> str:
        """The secret ARN inside `{{resolve:secretsmanager:<arn>:SecretString:::}}`."""
        text = str(self.resolver.resolve(value))
        prefix = "{{resolve:secretsmanager:"
        if not text.startswith(prefix):
            raise TemplateError(f"expected a Secrets Manager dynamic reference, got {text[:40]!r}")
        return text[len(prefix) :].split(":SecretString:")[0]

    def _bootstrap(self) -> None:
        assert self.postgres is not None
        run_bootstrap(self.template, self.resolver, self.secrets, self.postgres)

    def platform_environment(self) -> dict[str, str]:
        """What ECS adds to a Fargate container, and the emulator's endpoint as AWS's. No credentials:
        a container gets its task role's through `role_environment`."""
        environment = {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
        }
        if self.emulator is not None:
            environment["AWS_ENDPOINT_URL"] = self.emulator.endpoint
        return environment

    def task_roles(self, task: str) -> TaskRoles:
        """The roles of the template's task definition `task`, resolved as deployed."""
        properties = self.template["Resources"][task]["Properties"]

        def role(key: str) -> str | None:
            value = properties.get(key)
            return None if value is None else str(self.resolver.resolve(value))

        return TaskRoles(task=role("TaskRoleArn"), execution=role("ExecutionRoleArn"))

    def task_arn(self, task_id: str) -> str:
        """The ARN ECS gives a task of the template's cluster (`aws:SourceArn` of its role sessions)."""
        cluster_id = _only(self.template, "AWS::ECS::Cluster")
        cluster = self.resolver.ref(cluster_id) if cluster_id else "default"
        return f"arn:aws:ecs:{self.region}:{self.account}:task/{cluster}/{task_id}"

    def role_session(self, role_arn: str, task_arn: str) -> RoleSession:
        """ECS's session of a task's role: named by the task's id, for this account's ECS."""
        return RoleSession(
            role_arn=role_arn,
            session_name=task_arn.rsplit("/", 1)[1],
            source_account=self.account,
            source_arn=task_arn,
        )

    def role_environment(self, role_arn: str | None, task_arn: str) -> dict[str, str]:
        """The task role's credentials endpoint for one container (nothing without a task role or an
        emulator); `RoleRefused` when the role does not trust ECS."""
        if role_arn is None or self.credentials is None:
            return {}
        return self.credentials.register(self.role_session(role_arn, task_arn))

    def execution_client(self, role_arn: str | None, task_arn: str, service: str) -> Any:
        """A boto3 client of the emulator with the task execution role's session (what ECS's agent
        uses for the task's secrets and logs); LookupError without an execution role."""
        import boto3

        if self.credentials is None or self.emulator is None:
            raise LookupError("the sandbox has no emulator to call")
        if role_arn is None:
            raise LookupError(f"the task definition has no execution role to call {service} with")
        session = self.credentials.session(self.role_session(role_arn, task_arn))
        return boto3.client(
            service,
            endpoint_url=self.emulator.endpoint,
            region_name=self.region,
            aws_access_key_id=session.access_key_id,
            aws_secret_access_key=session.secret_access_key,
            aws_session_token=session.session_token,
        )

    def network(self) -> TaskNetwork:
        """A network of its own for one task (ECS's awsvpc: an interface and an address per task)."""
        if self.networks is None:
            raise TemplateError("this sandbox was made without task_networks")
        return self.networks.add()

    def balance(self, port: int, replicas: list[TaskNetwork]) -> RoundRobin:
        """The load balancer's and Cloud Map's stand-in: `port` on 127.0.0.1 and on the gateway (where
        the names of `hosts` lead) spread over `replicas`, a connection each in turn."""
        listen = [("127.0.0.1", port), *([(self.gateway, port)] if self.gateway else [])]
        return self._stack.enter_context(
            RoundRobin(listen=listen, targets=[(replica.address, port) for replica in replicas])
        )

    def spec(
        self,
        task: str,
        name: str,
        *,
        environment_overrides: Mapping[str, str] | None = None,
        network: TaskNetwork | None = None,
    ) -> sandbox_container.ContainerSpec:
        """The container as ECS would start it: the image's entry point, environment and working
        directory beneath the task definition's command, environment, secrets and user."""
        definition = self.definitions[(task, name)]
        roles = self.task_roles(task)
        task_arn = self.task_arn(uuid.uuid4().hex)
        role = roles.execution
        try:
            if self.secrets_in_emulator and definition.secrets:
                client = self.execution_client(roles.execution, task_arn, "secretsmanager")
                secrets = retrieve(definition.secrets, client)
            else:
                secrets = {key: inject(ref, self.secrets) for key, ref in definition.secrets.items()}
            role = roles.task
            role_environment = self.role_environment(roles.task, task_arn) if network is None else {}
        except RoleRefused:
            raise StartError(f"{task}/{name}: {unable_to_assume(str(role))}") from None
        except LookupError as exc:
            raise StartError(
                f"{task}/{name}: ResourceInitializationError: unable to pull secrets or registry auth: {exc}"
            ) from None
        return self.container_spec(
            definition,
            name=f"{task}-{name}",
            secrets=secrets,
            environment_overrides=environment_overrides,
            network=network,
            role_environment=role_environment,
        )

    def container_spec(
        self,
        definition: Container,
        *,
        name: str,
        secrets: Mapping[str, str],
        model: images.ImageModel | None = None,
        command: tuple[str, ...] | None = None,
        environment_overrides: Mapping[str, str] | None = None,
        network: TaskNetwork | None = None,
        directories: Mapping[str, Path] | None = None,
        role_environment: Mapping[str, str] | None = None,
    ) -> sandbox_container.ContainerSpec:
        """`definition` started as ECS starts it, with its `secrets` already retrieved; `model` (else the
        model of its image) for its image, `command` for a RunTask override of its command,
        `role_environment` for its task role's credentials (`role_environment()`)."""
        model = model if model is not None else images.model(definition.image)
        installed = runtime.ensure(model)
        environment = dict(model.environment)
        environment["PATH"] = installed.path_variable(environment.get("PATH", ""))
        environment |= self.platform_environment()
        environment |= role_environment or {}
        environment |= definition.environment
        environment |= secrets
        environment |= environment_overrides or {}
        entry_point = definition.entry_point if definition.entry_point is not None else model.entry_point
        return sandbox_container.ContainerSpec(
            name=name,
            argv=tuple(installed.argv(entry_point, command or definition.command or ())),
            environment=environment,
            user=sandbox_container.parse_user(definition.user or model.user),
            read_only_root=definition.read_only_root,
            tmpfs=definition.tmpfs,
            hosts=self.hosts if network is None else dict.fromkeys(self.hosts, self.gateway or ""),
            files={TRUST_STORE: self.ca.bundle},
            working_directory=model.working_directory if Path(model.working_directory).is_dir() else "/",
            netns=network.netns if network is not None else None,
            directories=dict(directories or {}),
        )

    def start(
        self,
        task: str,
        name: str,
        *,
        environment_overrides: Mapping[str, str] | None = None,
        network: TaskNetwork | None = None,
    ) -> sandbox_container.Container:
        """Start one container of `task`; with `network`, in that task network (every container of a
        task shares its task's network)."""
        if network is None:
            for port in self.definitions[(task, name)].ports:
                ensure_free(port, what=f"{task}/{name}")
        started = sandbox_container.start(
            self.spec(task, name, environment_overrides=environment_overrides, network=network),
            workdir=self.workdir / "containers",
        )
        self.started.append(started)
        return started

    def wait_healthy(
        self, started: sandbox_container.Container, task: str, name: str, *, limit: float = 300.0
    ) -> float:
        """Seconds until the container's health check first passes; StartError if it exits or the
        check has not passed within its start period plus its retries (at most `limit` seconds)."""
        definition = self.definitions[(task, name)]
        check = definition.health_check
        if check is None:
            raise TemplateError(f"{task}/{name} has no health check to wait for")
        budget = min(limit, check.start_period + check.retries * check.interval)
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            if not started.running():
                raise StartError(f"{name} exited with {started.process.returncode}: {_tail(started.log())}")
            result = started.health_check(check.command, timeout=check.timeout)
            if result.returncode == 0:
                return time.monotonic() - started.started
            time.sleep(1.0)
        raise StartError(f"{name} was not healthy within {budget:.0f} s: {_tail(started.log())}")


def _tail(log: str, lines: int = 15) -> str:
    return " | ".join(log.strip().splitlines()[-lines:])


@dataclass
class StartedServices:
    """The containers of a stack's services, started by `start_services`."""

    containers: dict[str, sandbox_container.Container]
    """Every started container, by name; a service's second task onwards as `<name>#<n>`."""
    order: list[tuple[str, str]]
    """(task definition, container key) in start order."""
    healthy_after: dict[str, float]
    replicas: dict[str, list[TaskNetwork]]
    """Container name -> the task networks of its replicated service's tasks."""
    balancer: RoundRobin | None


def start_services(
    platform: SandboxPlatform,
    *,
    environment_overrides: Mapping[str, str] | None = None,
    limit: float = 240,
) -> StartedServices:
    """Start every modeled container of the template's services in ECS's order, as many tasks of each
    service as its `DesiredCount`, and wait for each one's health check. A service with more than one
    task (the platform needs `task_networks`) runs each task in a network of its own, behind a
    round-robin stand-in for the load balancer on its first port."""
    counts = desired_counts(platform.template)
    started = StartedServices(containers={}, order=[], healthy_after={}, replicas={}, balancer=None)
    networks: dict[str, list[TaskNetwork]] = {}
    for task, name in start_order(platform.template):
        definition = platform.definitions[(task, name)]
        if not images.is_modeled(definition.image):
            continue
        count = counts[task]
        if count > 1 and task not in networks:
            networks[task] = [platform.network() for _ in range(count)]
        for replica in range(count):
            key = name if replica == 0 else f"{name}#{replica + 1}"
            network = networks[task][replica] if task in networks else None
            container = platform.start(
                task, name, network=network, environment_overrides=environment_overrides
            )
            started.containers[key] = container
            started.order.append((task, key))
            started.healthy_after[key] = platform.wait_healthy(container, task, name, limit=limit)
        if task in networks:
            started.replicas[name] = networks[task]
            if definition.ports and started.balancer is None:
                started.balancer = platform.balance(definition.ports[0], networks[task])
    return started
