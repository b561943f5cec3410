"""The deploy path's own safety, end to end and fast: the real synthesis with the real gates, an
in-process AWS (moto) as the target, and only the CDK CLI replaced by a recorder.

A deploy whose template has a finding that no acknowledgement covers is refused before the CDK CLI
is called; the same deploy without the finding reaches the CDK CLI with the gated assembly (its
change set prepared, then executed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import aws_s3 as s3
from moto import mock_aws

import infra.app
from blog_infra import operations, preflight
from blog_infra.cdk import CdkRun
from blog_infra.cli import main
from blog_infra.exit_codes import ExitCode
from blog_infra.target import Target
from tests.conftest import isolated_from_assembly_cache

pytestmark = pytest.mark.slow  # each test synthesizes the whole app with the gates: about 12 s


class CdkRecorder:
    """Stands in for the CDK CLI: records each call and succeeds; a `--method=prepare-change-set`
    creates the change set of the assembly's template, as the CDK CLI does."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str], target: Target, *_: Any, **__: Any) -> CdkRun:
        self.calls.append(list(args))
        if "--method=prepare-change-set" in args:
            stack, directory = args[1], Path(args[args.index("--app") + 1])
            target.client("cloudformation").create_change_set(
                StackName=stack,
                ChangeSetName=args[args.index("--change-set-name") + 1],
                ChangeSetType="CREATE",
                TemplateBody=(directory / f"{stack}.template.json").read_text(encoding="utf-8"),
            )
        return CdkRun(returncode=0)


@pytest.fixture
def cdk(monkeypatch: pytest.MonkeyPatch) -> CdkRecorder:
    recorder = CdkRecorder()
    monkeypatch.setattr(operations, "run_cdk", recorder)
    return recorder


@pytest.fixture
def target(local_config: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    """An AWS account with nothing deployed, in this process; its preflight finds nothing (the
    account checks are tests/preflight's subject, and moto in process has no GetAccountSettings)."""
    with mock_aws():
        aws = Target(config=local_config)
        monkeypatch.setattr("blog_infra.commands.platform.resolve", lambda _config: aws)
        monkeypatch.setattr(
            operations.preflight,
            "run",
            lambda config, target, *_, **__: preflight.Report(
                env=config.name, target=target.description, findings=(), checks=()
            ),
        )
        yield aws


def add_unacknowledged_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app gains a bucket without encryption, public access block, logging or TLS policy."""
    compose = infra.app.compose

    def with_loose_bucket(app: Any, config: Any, *, gates: bool) -> Any:
        stack = compose(app, config, gates=gates)
        s3.CfnBucket(stack, "Loose")
        return stack

    monkeypatch.setattr(infra.app, "compose", with_loose_bucket)
    isolated_from_assembly_cache(monkeypatch)


def test_a_deploy_with_an_unacknowledged_finding_is_refused_before_the_cdk_cli(
    target: Target, cdk: CdkRecorder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an app change that the gates flag and nothing acknowledges
    add_unacknowledged_bucket(monkeypatch)
    # WHEN it is deployed
    code = main(["deploy", "--env", "local"])
    # THEN the deploy fails on the gates, in one line naming the finding, and the CDK CLI never ran
    err = capsys.readouterr().err
    assert code == ExitCode.FAILED, err
    assert "not acknowledged in local" in err and "Loose" in err
    assert len(err.strip().splitlines()) == 1
    assert cdk.calls == []


def test_a_deploy_without_findings_reaches_the_cdk_cli_with_the_gated_assembly(
    target: Target, cdk: CdkRecorder, local_config: Any
) -> None:
    # GIVEN the app as it is WHEN it is deployed THEN the CDK CLI deploys the synthesized assembly
    assert operations.deploy(local_config, target) is True
    prepare, execute = cdk.calls
    for (verb, stack, app, directory, *options), method in zip(
        (prepare, execute), ("prepare-change-set", "execute-change-set"), strict=True
    ):
        assert (verb, stack, app) == ("deploy", local_config.stack_name, "--app")
        assert Path(directory).parent.name == ".runs"
        assert f"--method={method}" in options and "--require-approval" in options
    assert prepare[3] == execute[3]
