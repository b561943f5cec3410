"""Prod's Prefect, standard and lean, started from the synthesized template as ECS would start it.

One module-scoped run per profile: synthesize prod with the profile, start the local emulator as the
account (cluster, subnets, security groups, observer queue), start a TLS-only PostgreSQL and, where
the profile has one, a TLS + password Redis, run the Aurora bootstrap's own code, then start every
Prefect container in ECS's order, as many tasks of each service as its `DesiredCount`, and wait for
each one's own health check. A service with more than one task (the standard profile's API) runs each
task in a network of its own, behind a round-robin stand-in for the load balancer and Cloud Map on
the port clients use.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from blog_infra.sandbox import images, runtime
from blog_infra.sandbox import prefect_client as prefect_client_module
from blog_infra.sandbox.aws import client as emulator_client
from blog_infra.sandbox.aws import prepare_account
from blog_infra.sandbox.container import Container
from blog_infra.sandbox.ecs_secrets import inject
from blog_infra.sandbox.network import RoundRobin, TaskNetwork
from blog_infra.sandbox.platform import SandboxPlatform, desired_counts, start_services
from blog_infra.sandbox.tls import CertificateAuthority
from emulator import control
from emulator.shape import EmulatorShape

PROFILES = ("standard", "lean")
TEST_TIMINGS = {
    "PREFECT_SERVER_SERVICES_DB_VACUUM_LOOP_SECONDS": "5",
    "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_CANCELLING_TIMEOUT_SECONDS": "5",
}
"""The only changes to the synthesized configuration, both timings so that a test can watch what they
time: the vacuum runs every 5 s instead of every hour (what it deletes, and after how long, is as
configured), and a run that stays CANCELLING for 5 s instead of 300 s gets its infrastructure cleaned
up."""


@dataclass
class PrefectRun:
    """A started Prefect of one profile and the handles the tests need."""

    profile: str
    config: Any
    template: dict[str, Any]
    platform: SandboxPlatform
    emulator_endpoint: str
    containers: dict[str, Container] = field(default_factory=dict)
    """Every started container, by name; a service's second task onwards as `<name>#<n>`."""
    healthy_after: dict[str, float] = field(default_factory=dict)
    order: list[tuple[str, str]] = field(default_factory=list)
    """(task definition, container key) in start order."""
    replicas: dict[str, list[TaskNetwork]] = field(default_factory=dict)
    """Container name -> the task networks of its replicated service's tasks."""
    balancer: RoundRobin | None = None

    @property
    def account(self) -> str:
        return str(self.config.account_id)

    @property
    def region(self) -> str:
        return str(self.config.region)

    def aws(self, service: str) -> Any:
        return emulator_client(self.emulator_endpoint, service, region=self.region, account=self.account)

    def definition(self, name: str) -> Any:
        name = name.partition("#")[0]
        [found] = [d for (_, n), d in self.platform.definitions.items() if n == name]
        return found

    def api_addresses(self) -> list[str]:
        """`http://<address>:4200` of each API task: one replica each, bypassing the balancer."""
        networks = self.replicas.get("api")
        if not networks:
            return ["http://127.0.0.1:4200"]
        return [f"http://{network.address}:4200" for network in networks]

    @property
    def auth_string(self) -> str:
        api = self.definition("api")
        return inject(api.secrets["PREFECT_API_AUTH_STRING"], self.platform.secrets)

    def job_variables(self) -> dict[str, Any]:
        value = self.platform.resolver.resolve(
            self.template["Outputs"]["PipelinesWorkPoolJobVariables"]["Value"]
        )
        loaded: dict[str, Any] = json.loads(value)
        return loaded

    def prefect_client(self, *arguments: str, timeout: float = 120) -> dict[str, Any]:
        """Run the sandbox's Prefect client with the worker image's Prefect, against the API."""
        installed = runtime.ensure(images.model(self.definition("worker").image))
        home = self.platform.workdir / "client-home"
        home.mkdir(exist_ok=True)
        result = subprocess.run(
            [str(installed.bin / "python"), "-I", prefect_client_module.__file__, *arguments],
            env={
                "PATH": "/usr/bin:/bin",
                "PREFECT_API_URL": "http://127.0.0.1:4200/api",
                "PREFECT_API_AUTH_STRING": self.auth_string,
                "PREFECT_HOME": str(home),
            },
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        loaded: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return loaded


def _template(config: Any) -> dict[str, Any]:
    from aws_cdk.assertions import Template

    from infra.app import build_app

    _, stack = build_app(config)
    template: dict[str, Any] = Template.from_stack(stack).to_json()
    return template


@pytest.fixture(scope="module", params=PROFILES)
def prefect_run(
    request: pytest.FixtureRequest, sandbox_dir: Path, ca: CertificateAuthority
) -> Iterator[PrefectRun]:
    from infra.config import load_config

    profile: str = request.param
    config = load_config("prod", profile=profile)
    template = _template(config)
    workdir = sandbox_dir / f"prefect-{profile}"
    workdir.mkdir()
    workdir.chmod(0o755)
    # prod's template is not deployed here: only what its containers need is made (prepare_account),
    # not its roles, which would be another account's in this emulator. So IAM is audited, not
    # enforced: the local pipelines platform (tests/conformance/pipelines) runs the same software
    # under enforcement on a deployed stack.
    status = control.start(workdir / "emulator", shape=EmulatorShape(iam="audit"))
    assert status.endpoint
    counts = desired_counts(template)
    try:
        prepared = prepare_account(status.endpoint, template, account=config.account_id, region=config.region)
        with SandboxPlatform(
            template,
            account=config.account_id,
            region=config.region,
            workdir=workdir,
            ca=ca,
            emulator=prepared.emulator,
            overrides=prepared.overrides,
            task_networks=any(count > 1 for count in counts.values()),
        ) as platform:
            run = PrefectRun(
                profile=profile,
                config=config,
                template=template,
                platform=platform,
                emulator_endpoint=status.endpoint,
            )
            services = start_services(platform, environment_overrides=TEST_TIMINGS)
            run.containers = services.containers
            run.order = services.order
            run.healthy_after = services.healthy_after
            run.replicas = services.replicas
            run.balancer = services.balancer
            yield run
    finally:
        control.stop(workdir / "emulator")
