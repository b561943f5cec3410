"""cfn-lint, informational checks included, on the synthesized template.

The template carries its acknowledgements as `cfn-lint` metadata, which cfn-lint honours: a rule in
the template's `ignore_checks` does not run, and a match on a resource whose `ignore_checks` names
its rule is dropped. What it reports despite them is failing. To know what was acknowledged, and by
which entry, in the same single pass, every rule is made mandatory (cfn-lint neither skips nor drops
a mandatory rule's matches), and each match is then sorted here as cfn-lint sorts it without that:
reported (failing) or dropped for the metadata (acknowledged, when an entry of the file says so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from blog_infra.gates import Finding, GateResult, dedupe, outside_the_file
from infra.gates import AppliedAcknowledgements, Gate

LINT_KEY = "cfn-lint"
EVERY_RULE = ("E", "I", "W")
"""Rule id prefixes that cover every cfn-lint rule, as `mandatory_checks`."""


def _lint(template: dict[str, Any], region: str) -> list[Any]:
    """Every match of every rule on `template`, whatever its metadata ignores."""
    from cfnlint.api import lint
    from cfnlint.config import ManualArgs

    config = ManualArgs(include_checks=["I"], regions=[region], mandatory_checks=list(EVERY_RULE))
    return list(lint(json.dumps(template), config=config))


@dataclass(frozen=True)
class _Ignores:
    """What cfn-lint leaves out for a template's metadata when the gate makes no rule mandatory: the
    rules the template's `ignore_checks` name (prefixes, `cfnlint.rules._rule._rule_is_enabled`), and
    the matches on a resource whose `ignore_checks` names their rule (`get_directives` of
    `cfnlint.template.Template`, applied by `_check_metadata_directives` of
    `cfnlint.runner.template.runner`)."""

    mandatory: tuple[str, ...]
    """Rule id prefixes mandatory in cfn-lint's own configuration (a `.cfnlintrc`): never left out."""
    ignored: tuple[str, ...]
    """Rule id prefixes of the template's `ignore_checks`, as cfn-lint's configuration resolves them."""
    by_resource: dict[str, frozenset[str]]
    """Rule id -> the logical ids whose metadata ignores it."""

    @classmethod
    def of(cls, template: dict[str, Any], region: str) -> _Ignores:
        from cfnlint.config import ConfigMixIn

        config = ConfigMixIn(include_checks=["I"], regions=[region])
        config.set_template_args(template)
        by_resource: dict[str, set[str]] = {}
        resources = template.get("Resources", {})
        for logical_id, resource in resources.items() if isinstance(resources, dict) else ():
            if not isinstance(resource, dict) or resource.get("Type") is None:
                continue
            metadata = resource.get("Metadata", {}).get(LINT_KEY, {}).get("config", {})
            for rule_id in metadata.get("ignore_checks", []):
                by_resource.setdefault(rule_id, set()).add(logical_id)
        return cls(
            mandatory=tuple(config.mandatory_checks or ()),
            ignored=tuple(config.ignore_checks or ()),
            by_resource={rule_id: frozenset(ids) for rule_id, ids in by_resource.items()},
        )

    def drop(self, match: Any) -> bool:
        """Whether cfn-lint, honouring the metadata, would not report `match`."""
        rule_id: str = match.rule.id
        if any(rule_id.startswith(prefix) for prefix in self.mandatory):
            return False
        if any(prefix and rule_id.startswith(prefix) for prefix in self.ignored):
            return True
        path: list[Any] = getattr(match, "path", None) or []
        return (
            rule_id in self.by_resource
            and len(path) >= 2
            and path[0] == "Resources"
            and path[1] in self.by_resource[rule_id]
        )


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
    ignores = _Ignores.of(template, region)
    matches = _lint(template, region)
    dropped = []
    for match in matches:
        if ignores.drop(match):
            dropped.append(match)
            continue
        _, where = _location(match)
        result.failing.append(
            Finding(gate=result.gate, rule=match.rule.id, resource=where, message=match.message)
        )
    reported = {(f.rule, f.resource) for f in result.failing}
    for match in dropped:
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


@cache
def _rule_count() -> int:
    """How many rules the gate runs, the same for every template: counted once, as loading them
    costs about 0.2 s."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    runner = Runner(ConfigMixIn(include_checks=["I"], regions=["us-east-1"]))
    return sum(1 for rule in runner.rules.values() if not rule.experimental)
