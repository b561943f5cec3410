"""A failure inside the synthesis (one the model did not catch) is one line saying where it came from,
and leaves the assembly directory as it was.

The configurations here skip the model's validation (`model_construct`), so that the real constructs
and the real CDK raise as they would for a rule the model lacked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from blog_infra.errors import CliError
from blog_infra.exit_codes import ExitCode
from blog_infra.synthesis import synth
from infra.config import EnvConfig, load_config


def unchecked(model: Any = None, **changes: Any) -> Any:
    """The local configuration (or `model`) with `changes` applied, nested settings as dictionaries,
    bypassing validation."""
    model = load_config("local") if model is None else model
    values = dict(model.__dict__)
    for name, change in changes.items():
        values[name] = unchecked(values[name], **change) if isinstance(change, dict) else change
    return type(model).model_construct(**values)


@pytest.fixture
def previous(tmp_path: Path) -> Path:
    """An assembly directory holding a previous synthesis' file."""
    directory = tmp_path / "assembly"
    directory.mkdir()
    (directory / "blog-local.template.json").write_text('{"previous": true}', encoding="utf-8")
    return directory


def failure(config: EnvConfig, directory: Path) -> str:
    with pytest.raises(CliError) as caught:
        synth(config, directory, gates=False, validate=True)
    assert caught.value.code is ExitCode.FAILED
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    # AND the directory is as it was, and no staging directory is left beside it
    assert [p.name for p in directory.iterdir()] == ["blog-local.template.json"]
    assert (directory / "blog-local.template.json").read_text(encoding="utf-8") == '{"previous": true}'
    assert sorted(p.name for p in directory.parent.iterdir()) == ["assembly"]
    return message


def test_our_constructs_error_names_the_construct_and_our_line(previous: Path) -> None:
    # GIVEN a Fargate size the Backstage construct refuses WHEN synthesized
    message = failure(unchecked(backstage={"scaling": {"cpu": 256, "memory_mib": 4096}}), previous)
    # THEN the line names the construct path, our file and line, and the construct's message
    assert message.startswith(
        "synthesis of blog-local failed at blog-local/Backstage infra/modules/apps/ecs_common.py:"
    )
    assert "ValueError: Backstage memory_mib 4096 does not fit cpu 256" in message


def test_a_cdk_error_through_jsii_names_our_call_and_the_cdk_function(previous: Path) -> None:
    # GIVEN a VPC range too small for the subnets (CDK's own check, raised in the jsii kernel)
    message = failure(unchecked(network={"cidr": "10.0.0.0/24"}), previous)
    # THEN the line names the construct, the line of our code that called CDK, CDK's function, its message
    assert message.startswith(
        "synthesis of blog-local failed at blog-local/Network infra/modules/core/network/"
    )
    assert "calling aws_cdk.aws_ec2.Vpc.__init__" in message
    assert "exceeds remaining space of 10.0.0.0/24" in message


@pytest.mark.slow
def test_a_failed_template_rule_names_the_resource_and_the_finding(previous: Path) -> None:
    # GIVEN a tag value longer than CloudFormation takes (CDK's template rules fail the synthesis)
    message = failure(unchecked(owner="o" * 300), previous)
    # THEN the line names the first failing resource and the rule, and how many more there are
    assert "failed at blog-local/" in message
    assert "CloudFormation Validate F3033: Tags." in message and "length 300 exceeds maximum" in message
    assert "more findings)" in message


@pytest.mark.slow
def test_a_successful_synthesis_replaces_the_previous_assembly(previous: Path) -> None:
    assembly = synth(load_config("local"), previous, gates=False, validate=False)
    assert assembly.directory == previous
    assert "Resources" in assembly.template()
    assert sorted(p.name for p in previous.parent.iterdir()) == ["assembly"]
