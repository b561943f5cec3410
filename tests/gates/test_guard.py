"""The Control Tower controls on the template (blog_infra/gates/guard.py) find what the validator's
CDK plugin finds inside the synthesis: the same rule ids, resources, messages and acknowledgements.

The comparison with the plugin runs on lean prod here, on prod and local in test_gates.py (on the
`gate_reports` syntheses) and on a stack that breaks controls, with and without acknowledgements,
in test_insecure_change.py (on its syntheses): each a synthesis with the plugin on, shared."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack

from blog_infra.gates import GateResult
from blog_infra.gates import guard as guard_gate
from blog_infra.gates.plugins import plugin_guard_result
from blog_infra.gates.synthesized import refuse_failing, synthesize
from infra.app import compose, new_app
from infra.config import EnvConfig, load_config
from infra.gates import Gate, apply_acknowledgements, enable_gates, guard_rule_names, plan_acknowledgements

LOOSE_BUCKET = {
    "Resources": {
        "Loose": {"Type": "AWS::S3::Bucket", "Properties": {}},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
    }
}


def _guard(rule: Path, data: Path) -> list[dict[str, Any]]:
    """cfn-guard as the validator runs it (lib/plugin.js execGuard flags), on one rule file."""
    binary = guard_gate.guard_binary()
    done = subprocess.run(
        [
            str(binary),
            "validate",
            "--rules",
            str(rule),
            "--data",
            str(data),
            "--output-format",
            "json",
            "--show-summary",
            "none",
            "--structured",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 19), done.stderr  # 19: non-compliant (lib/utils.js accepts 0, 5, 19)
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def test_every_control_tower_rule_file_names_the_resource_types_it_selects() -> None:
    # GIVEN the rule files the pinned validator ships WHEN their types are read
    files = guard_gate.rule_files()
    # THEN there is one per control the acknowledgement file knows, and each names at least one type
    assert len(files) == len(guard_rule_names()) > 200
    assert [f.path.name for f in files if not f.types] == []


@pytest.mark.slow
def test_a_rule_file_reports_nothing_on_a_template_without_the_types_it_names(tmp_path: Path) -> None:
    # GIVEN every resource type some Control Tower rule file names, with empty properties (which
    # most controls reject)
    files = guard_gate.rule_files()
    every_type = sorted(set().union(*(f.types for f in files)))
    reported = []
    for index, rule in enumerate(files):
        # WHEN a rule file is evaluated on a template holding all of them but its own
        others = [t for t in every_type if t not in rule.types]
        data = tmp_path / f"{index}.json"
        resources = {f"R{n}": {"Type": t, "Properties": {}} for n, t in enumerate(others)}
        data.write_text(json.dumps({"Resources": resources}), encoding="utf-8")
        # THEN it reports nothing: leaving it out of the run (as the gate does) changes nothing
        if any(entry.get("not_compliant") for entry in _guard(rule.path, data)):
            reported.append(rule.path.name)
    assert reported == []
    # (and the same files do report on their own types: the check above can fail)
    s3 = next(f for f in files if f.path.name == "ct-s3-pr-1.guard")
    data = tmp_path / "s3.json"
    data.write_text(json.dumps(LOOSE_BUCKET), encoding="utf-8")
    assert any(entry.get("not_compliant") for entry in _guard(s3.path, data))


def test_only_the_rule_files_of_the_template_s_types_run() -> None:
    chosen = guard_gate.applicable_rule_files(LOOSE_BUCKET)
    assert chosen and all("AWS::S3::Bucket" in f.types or "AWS::SNS::Topic" in f.types for f in chosen)
    assert guard_gate.applicable_rule_files({"Resources": {}}) == ()


def test_results_are_cached_by_the_template_s_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOG_INFRA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BLOG_INFRA_NO_CACHE", raising=False)
    template = tmp_path / "a.template.json"
    template.write_text(json.dumps(LOOSE_BUCKET), encoding="utf-8")
    runs: list[str] = []
    real = guard_gate.run_validator

    def counted(jobs: Any, *, name: str) -> list[dict[str, Any]]:
        runs.append(name)
        return real(jobs, name=name)

    monkeypatch.setattr(guard_gate, "run_validator", counted)
    # GIVEN a template with a bucket that breaks the S3 controls WHEN the controls run on it twice
    first = guard_gate.guard_violations(template)
    second = guard_gate.guard_violations(template)
    # THEN cfn-guard ran once, and both give the same violations
    assert len(runs) == 1 and first == second
    assert "s3_bucket_level_public_access_prohibited_check" in {v["ruleName"] for v in first}
    # WHEN the template changes THEN it runs again; with the cache off, every time
    template.write_text(json.dumps(LOOSE_BUCKET, indent=1), encoding="utf-8")
    guard_gate.guard_violations(template)
    monkeypatch.setenv("BLOG_INFRA_NO_CACHE", "1")
    guard_gate.guard_violations(template)
    assert len(runs) == 3


def test_a_failing_cfn_guard_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from blog_infra.errors import CliError

    # GIVEN a template cfn-guard cannot read WHEN the controls run on it
    rules = (guard_gate.rule_files()[0].path,)
    job = guard_gate.GuardJob(template=tmp_path / "gone.template.json", rules=rules)
    with pytest.raises(CliError) as error:
        guard_gate.run_validator([job], name="gone.template.json")
    # THEN the validator's own error comes back as one line naming the template
    message = str(error.value)
    assert message.startswith("cfn-guard failed on gone.template.json") and "\n" not in message
    assert "Command exited with status" in message


REFERENCES = {
    "Resources": {
        "Key": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True, "KeyPolicy": {}}},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "ByKey": {"Type": "AWS::SQS::Queue", "Properties": {"KmsMasterKeyId": {"Ref": "Key"}}},
        "ByKeyArn": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"KmsMasterKeyId": {"Fn::GetAtt": ["Key", "Arn"]}},
        },
        "ByTopic": {"Type": "AWS::SQS::Queue", "Properties": {"KmsMasterKeyId": {"Ref": "Topic"}}},
        "Plain": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Loose": {"Type": "AWS::S3::Bucket", "Properties": {}},
        "LoosePolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {"Bucket": {"Ref": "Loose"}, "PolicyDocument": {"Statement": []}},
        },
        "Function": {"Type": "AWS::Lambda::Function", "Properties": {"Role": {"Fn::GetAtt": "Role.Arn"}}},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
    },
    "Parameters": {"KeyId": {"Type": "String"}},
}


def _without_template_path(violations: list[dict[str, Any]]) -> list[str]:
    return sorted(
        json.dumps(
            {
                **v,
                "violatingResources": [
                    {k: x for k, x in r.items() if k != "templatePath"} for r in v["violatingResources"]
                ],
            },
            sort_keys=True,
        )
        for v in violations
    )


def test_the_rule_groups_on_their_parts_of_the_template_find_what_all_rules_find_on_the_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLOG_INFRA_NO_CACHE", "1")
    # GIVEN queues whose key is a key (by Ref and by Fn::GetAtt), a topic or none, and resources of
    # other rules' types with references between them (a queue whose key is a parameter's Ref, or
    # nothing's, is left out: the pinned validator's ViolationCheck fails on ct-sqs-pr-2's result for
    # it, "Cannot read properties of undefined (reading 'to')", on the whole template as on its part)
    template = tmp_path / "references.template.json"
    template.write_text(json.dumps(REFERENCES), encoding="utf-8")
    rules = tuple(f.path for f in guard_gate.applicable_rule_files(REFERENCES))
    # WHEN the controls run as the gate runs them (a cfn-guard run per group of rule files, each on
    # its part of the template), and every applicable rule file runs at once on the whole template
    grouped = guard_gate.guard_violations(template)
    whole = guard_gate.run_validator([guard_gate.GuardJob(template, rules)], name=template.name)
    # THEN the violations are the same, rule for rule and resource for resource
    assert _without_template_path(grouped) == _without_template_path(whole)
    # AND the wrong references were found (the comparison above can fail)
    sqs = {
        r.get("resourceLogicalId")
        for v in grouped
        if v["ruleName"] == "sqs_queue_encrypted_check"
        for r in v["violatingResources"]
    }
    assert {"ByTopic", "Plain"} <= sqs and not {"ByKey", "ByKeyArn"} & sqs
    assert {r["templatePath"] for v in grouped for r in v["violatingResources"]} == {str(template)}


def test_a_rule_group_sees_its_types_and_what_they_reference() -> None:
    # WHEN the part of the template the SQS rule files see is taken
    part = guard_gate.template_for(REFERENCES, frozenset({"AWS::SQS::Queue"}))
    # THEN it holds the queues and the resources they reference, and every other section
    assert sorted(part["Resources"]) == ["ByKey", "ByKeyArn", "ByTopic", "Key", "Plain", "Topic"]
    assert part["Parameters"] == REFERENCES["Parameters"]
    # AND a reference in the string form of Fn::GetAtt is followed too
    lambda_part = guard_gate.template_for(REFERENCES, frozenset({"AWS::Lambda::Function"}))
    assert sorted(lambda_part["Resources"]) == ["Function", "Role"]


# The equivalence: the validator as a CDK plugin (as before) and the template pass, on one assembly.


def _both(outdir: Path, build: Callable[[App], tuple[Stack, str]]) -> tuple[GateResult, GateResult]:
    """The plugin's result and the template pass's, on one synthesis with the plugin on."""
    app = new_app(str(outdir))
    stack, env = build(app)
    plan = plan_acknowledgements(stack, env)
    gated = synthesize(app, stack, plan, outdir, guard=False)
    assert any(p["pluginName"] == "cdk-validator-cfnguard" for p in gated.report["pluginReports"])
    return plugin_guard_result(gated), guard_gate.cfn_guard_result(outdir, stack.stack_name, plan)


def _environment(config: EnvConfig) -> Callable[[App], tuple[Stack, str]]:
    def build(app: App) -> tuple[Stack, str]:
        return compose(app, config, gates=True, guard_plugin=True), config.name

    return build


@pytest.mark.slow
def test_the_template_pass_finds_what_the_plugin_finds_on_lean_prod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prod and local: tests/gates/test_gates.py, on the `gate_reports` syntheses."""
    monkeypatch.setenv("BLOG_INFRA_NO_CACHE", "1")  # the template pass runs cfn-guard, here
    config = load_config("prod", profile="lean")
    # GIVEN one synthesis of prod under the lean profile with the validator as a plugin,
    # acknowledgements applied, WHEN the template pass runs on the template it wrote
    from_plugin, from_template = _both(tmp_path, _environment(config))
    # THEN both find the same: every acknowledged finding, with the same entry, and nothing failing
    assert from_template.to_json() == from_plugin.to_json()
    assert from_template.acknowledged and not from_template.failing


@pytest.mark.slow
def test_a_gated_synthesis_stops_on_a_control_tower_finding_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_cdk import aws_s3 as s3

    from blog_infra.errors import CliError
    from infra.gates import parse_acknowledgements

    monkeypatch.setenv("BLOG_INFRA_NO_CACHE", "1")
    # GIVEN a bucket whose cdk-nag findings are acknowledged, and whose Control Tower ones are not
    acks = parse_acknowledgements(
        "".join(
            f'[[ack]]\ngate = "cdk-nag"\nrule = "{rule}"\nresources = ["Loose"]\n'
            'reason = "A throwaway bucket of this test, acknowledged on purpose."\n'
            for rule in ("AwsSolutions-S1", "AwsSolutions-S10")
        )
    )
    app = new_app(str(tmp_path))
    enable_gates(app)
    stack = Stack(app, "blog-insecure", env=Environment(account="123456789012", region="us-east-1"))
    s3.CfnBucket(stack, "Loose")
    # WHEN it is synthesized with the gates (cdk-nag inside, the controls on the template)
    gated = synthesize(app, stack, apply_acknowledgements(stack, "local", acks), tmp_path)
    # THEN the synthesis passed cdk-nag but not the controls, and stops with one line naming them
    assert gated.guard is not None and gated.guard.failing and not gated.passed
    assert not [p for p in gated.report.get("pluginReports", []) if p.get("violations")]
    with pytest.raises(CliError) as error:
        refuse_failing(gated)
    message = str(error.value)
    assert "not acknowledged in local" in message and "\n" not in message
    assert f"{Gate.CFN_GUARD} CT.S3.PR." in message and "on Loose" in message
