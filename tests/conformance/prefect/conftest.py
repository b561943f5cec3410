"""Prod's Prefect, standard and lean, started from the synthesized template as ECS would start it.

One module-scoped run per profile: synthesize prod with the profile, start the local emulator as the
account (cluster, subnets, security groups, observer queue), start a TLS-only PostgreSQL and, where
the profile has one, a TLS + password Redis, run the Aurora bootstrap's own code, then start every
Prefect container in ECS's order and wait for its own health check.
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
from blog_infra.sandbox.platform import SandboxPlatform, start_order
from blog_infra.sandbox.tls import CertificateAuthority
from emulator import control

PROFILES = ("standard", "lean")


@dataclass
class PrefectRun:
    """A started Prefect of one profile and the handles the tests need."""

    profile: str
    config: Any
    template: dict[str, Any]
    platform: SandboxPlatform
    emulator_endpoint: str
    containers: dict[str, Container] = field(default_factory=dict)
    healthy_after: dict[str, float] = field(default_factory=dict)
    order: list[tuple[str, str]] = field(default_factory=list)

    @property
    def account(self) -> str:
        return str(self.config.account_id)

    @property
    def region(self) -> str:
        return str(self.config.region)

    def aws(self, service: str) -> Any:
        return emulator_client(self.emulator_endpoint, service, region=self.region, account=self.account)

    def definition(self, name: str) -> Any:
        [found] = [d for (_, n), d in self.platform.definitions.items() if n == name]
        return found

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
    status = control.start(workdir / "emulator")
    assert status.endpoint
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
        ) as platform:
            run = PrefectRun(
                profile=profile,
                config=config,
                template=template,
                platform=platform,
                emulator_endpoint=status.endpoint,
            )
            for task, name in start_order(template):
                if not images.is_modeled(platform.definitions[(task, name)].image):
                    continue
                started = platform.start(task, name)
                run.containers[name] = started
                run.order.append((task, name))
                run.healthy_after[name] = platform.wait_healthy(started, task, name, limit=240)
            yield run
    finally:
        control.stop(workdir / "emulator")
