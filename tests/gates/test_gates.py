"""The five gates pass on prod and local, and the acknowledgement file holds no dead entry."""

from __future__ import annotations

from typing import Any

import pytest

from blog_infra.gates import GATE_ORDER
from blog_infra.gates.runner import stale_acknowledgements
from infra.gates import load_acknowledgements

ENVS = ("prod", "local")


@pytest.mark.parametrize("env", ENVS)
def test_every_gate_ran_and_nothing_is_failing(gate_reports: dict[str, Any], env: str) -> None:
    # GIVEN the environment synthesized with the gates on, WHEN all five gates ran
    report = gate_reports[env]
    # THEN each of them ran, and every finding is acknowledged
    assert [r.gate for r in report.results] == list(GATE_ORDER)
    for result in report.results:
        assert result.evaluated and result.evaluated != "not run", result.gate
    assert report.gated.passed
    assert not report.failing, "\n".join(f.line() for f in report.failing)


@pytest.mark.parametrize("env", ENVS)
def test_every_acknowledged_finding_traces_to_an_entry_of_the_file(
    gate_reports: dict[str, Any], env: str
) -> None:
    numbers = {ack.number for ack in load_acknowledgements()}
    for result in gate_reports[env].results:
        assert result.acknowledged or result.gate in ("checkov", "iam-reference"), (
            f"{result.gate} acknowledged nothing"
        )
        assert {f.acknowledgement for f in result.acknowledged} <= numbers


@pytest.mark.parametrize("env", ENVS)
def test_the_control_tower_controls_on_the_template_find_what_the_plugin_finds(
    gate_reports: dict[str, Any], env: str
) -> None:
    from blog_infra.gates.plugins import plugin_guard_result

    # GIVEN the environment synthesized with the validator also running as a CDK plugin (as the
    # controls ran before issue 23), WHEN the controls ran on its template (as they run now)
    report = gate_reports[env]
    from_template = next(r for r in report.results if r.gate == "cfn-guard")
    from_plugin = plugin_guard_result(report.gated)
    # THEN both found the same: the same rule ids, resources, messages and acknowledgement entries
    assert from_plugin.acknowledged, "the plugin ran and acknowledged what it found"
    assert from_template.to_json() == from_plugin.to_json()


def test_every_acknowledgement_still_matches_a_finding(gate_reports: dict[str, Any]) -> None:
    # GIVEN both environments checked WHEN the acknowledgements are compared with what was found
    stale = stale_acknowledgements(list(gate_reports.values()), load_acknowledgements())
    # THEN each entry acknowledged at least one finding in an environment it holds in
    assert not stale, "\n".join(f.line() for f in stale)


def test_local_only_acknowledgements_do_not_hold_in_prod(gate_reports: dict[str, Any]) -> None:
    local_only = {ack.number for ack in load_acknowledgements() if ack.envs == ("local",)}
    assert local_only
    assert not local_only & gate_reports["prod"].used_acknowledgements
    assert local_only <= gate_reports["local"].used_acknowledgements


@pytest.mark.parametrize("env", ENVS)
def test_the_template_carries_the_acknowledgements_its_tools_read(
    gate_reports: dict[str, Any], env: str
) -> None:
    template = gate_reports[env].gated.assembly.template()
    assert "I1022" in template["Metadata"]["cfn-lint"]["config"]["ignore_checks"]
    distribution = next(
        r for r in template["Resources"].values() if r["Type"] == "AWS::CloudFront::Distribution"
    )
    skips = distribution["Metadata"]["checkov"]["skip"]
    assert [s["id"] for s in skips] == ["CKV_AWS_68"]
    assert skips[0]["comment"].endswith(".")


def test_the_stateful_fixes_hold_in_both_environments(gate_reports: dict[str, Any]) -> None:
    for env in ENVS:
        resources = gate_reports[env].gated.assembly.template()["Resources"]
        for logical_id in ("DataBucketCached", "DataBucketRaw", "DataBucketClean", "DataBucketDesignFiles"):
            assert resources[logical_id]["Properties"]["LoggingConfiguration"]["DestinationBucketName"] == {
                "Ref": "DataAccessLogBucket"
            }
        groups = [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
        assert groups and all(
            g["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["LogsKey", "Arn"]} for g in groups
        )
