"""cfn-lint, informational checks included, on the synthesized template.

The template carries its acknowledgements as `cfn-lint` metadata, which cfn-lint honours: what it
reports on it is failing. To know what was acknowledged, and by which entry, the same template is
linted once more without that metadata.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from blog_infra.gates import Finding, GateResult, dedupe, outside_the_file
from infra.gates import AppliedAcknowledgements, Gate

LINT_KEY = "cfn-lint"


def _lint(template: dict[str, Any], region: str) -> list[Any]:
    from cfnlint.api import lint
    from cfnlint.config import ManualArgs

    return list(lint(json.dumps(template), config=ManualArgs(include_checks=["I"], regions=[region])))


def _without_acknowledgements(template: dict[str, Any]) -> dict[str, Any]:
    bare = copy.deepcopy(template)
    bare.get("Metadata", {}).pop(LINT_KEY, None)
    for resource in bare.get("Resources", {}).values():
        metadata = resource.get("Metadata")
        if isinstance(metadata, dict):
            metadata.pop(LINT_KEY, None)
    return bare


def _location(match: Any) -> tuple[str, str]:
    """(logical id or '', shown location) of a cfn-lint match."""
    path = [str(part) for part in match.path]
    if len(path) >= 2 and path[0] == "Resources":
        return path[1], path[1]
    return "", "/".join(path[:2]) or "(template)"


def cfn_lint_result(
    template: dict[str, Any], acknowledgements: AppliedAcknowledgements, *, region: str
) -> GateResult:
    result = GateResult(gate=Gate.CFN_LINT.value, env=acknowledgements.env, evaluated="")
    failing = _lint(template, region)
    for match in failing:
        _, where = _location(match)
        result.failing.append(
            Finding(gate=result.gate, rule=match.rule.id, resource=where, message=match.message)
        )
    reported = {(m.rule.id, _location(m)[1]) for m in failing}
    for match in _lint(_without_acknowledgements(template), region):
        logical_id, where = _location(match)
        if (match.rule.id, where) in reported:
            continue
        entry = acknowledgements.entry_for(Gate.CFN_LINT, match.rule.id, logical_id=logical_id or None)
        finding = Finding(
            gate=result.gate,
            rule=match.rule.id,
            resource=where,
            message=match.message,
            acknowledgement=entry.number if entry is not None else None,
        )
        if entry is None:
            result.failing.append(outside_the_file(finding))
        else:
            result.acknowledged.append(finding)
    result.acknowledged = dedupe(result.acknowledged)
    result.failing = dedupe(result.failing)
    result.evaluated = f"{_rule_count()} rules"
    return result


def _rule_count() -> int:
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    runner = Runner(ConfigMixIn(include_checks=["I"], regions=["us-east-1"]))
    return sum(1 for rule in runner.rules.values() if not rule.experimental)
