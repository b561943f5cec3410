"""cdk-nag (and the Control Tower controls when they ran as a plugin): read from the validation
report of the synthesis.

CDK applies the acknowledgements to the plugins' findings itself and lists the acknowledged ones as
`suppressedViolations`, with the rule id and the construct they were acknowledged on. The Control
Tower controls run on the template after the synthesis (`guard.py`); their result is taken from
there, and from the report only when the validator ran as a plugin (the equivalence test).
"""

from __future__ import annotations

from typing import Any

from blog_infra.gates import Finding, GateResult, dedupe, outside_the_file
from blog_infra.gates.guard import finding_message
from blog_infra.gates.synthesized import GatedAssembly
from infra.gates import PLUGIN_NAMESPACES, AppliedAcknowledgements, Gate, guard_control_of, guard_rule_names

OTHER_PLUGINS = "cdk"
"""Gate label of findings from validation plugins that are not one of the five gates."""


def plugin_results(gated: GatedAssembly) -> tuple[GateResult, GateResult, list[Finding]]:
    """The cdk-nag and cfn-guard results, and failing findings of any other validation plugin. The
    cfn-guard result is the template pass's (`guard.py`), or the plugin's when only it ran."""
    nag, from_report, others = _from_report(gated)
    return nag, gated.guard if gated.guard is not None else from_report, others


def plugin_guard_result(gated: GatedAssembly) -> GateResult:
    """The Control Tower controls' result as the validator's plugin reported it inside the synthesis
    (`synth_with_gates(..., guard_plugin=True)`): what the template pass must equal."""
    return _from_report(gated)[1]


def _from_report(gated: GatedAssembly) -> tuple[GateResult, GateResult, list[Finding]]:
    env = gated.acknowledgements.env
    nag = GateResult(gate=Gate.CDK_NAG.value, env=env, evaluated=f"{gated.resource_count} resources")
    controls = f"{len(guard_rule_names())} controls"
    from_report = GateResult(gate=Gate.CFN_GUARD.value, env=env, evaluated=controls)
    guard = gated.guard if gated.guard is not None else from_report
    by_namespace = {PLUGIN_NAMESPACES[Gate.CDK_NAG]: nag, PLUGIN_NAMESPACES[Gate.CFN_GUARD]: from_report}
    others: list[Finding] = []
    stack_path = gated.acknowledgements.stack_path
    for plugin in gated.report.get("pluginReports", []):
        name = str(plugin.get("pluginName", ""))
        result = by_namespace.get(name.replace(" ", "-"))
        gate = Gate.CDK_NAG if result is nag else Gate.CFN_GUARD
        label = result.gate if result is not None else OTHER_PLUGINS
        for violation in plugin.get("violations", []):
            failing = [
                _finding(label, violation, construct, stack_path)
                for construct in violation.get("violatingConstructs", [])
            ]
            (result.failing if result is not None else others).extend(failing)
        if result is None:
            continue
        for suppressed in plugin.get("suppressedViolations", []):
            entry = _entry(gated.acknowledgements, gate, suppressed, stack_path)
            findings = [
                _finding(label, suppressed, construct, stack_path, entry)
                for construct in suppressed.get("violatingConstructs", [])
            ]
            if entry is None:
                result.failing.extend(outside_the_file(f) for f in findings)
            else:
                result.acknowledged.extend(findings)
    if not gated.passed and not (nag.failing or guard.failing or from_report.failing or others):
        others.append(
            Finding(
                gate=OTHER_PLUGINS,
                rule="validation",
                resource=stack_path,
                message="the synthesis failed its validation but wrote no report",
            )
        )
    for result in (nag, from_report):
        result.acknowledged = dedupe(result.acknowledged)
        result.failing = dedupe(result.failing)
    return nag, from_report, dedupe(others)


def _rule(gate: str, violation: dict[str, Any]) -> str:
    name = str(violation.get("ruleName", "?"))
    return guard_control_of(name) if gate == Gate.CFN_GUARD.value else name


def _finding(
    gate: str, violation: dict[str, Any], construct: dict[str, Any], stack_path: str, entry: int | None = None
) -> Finding:
    path = str(construct.get("constructPath") or "")
    logical_id = str(construct.get("cloudFormationResource", {}).get("logicalId") or "")
    resource = path.removeprefix(f"{stack_path}/") if path else logical_id or "(template)"
    description = str(violation.get("description", ""))
    message = finding_message(description) if gate == Gate.CFN_GUARD.value else description.split("\n")[0]
    return Finding(
        gate=gate, rule=_rule(gate, violation), resource=resource, message=message, acknowledgement=entry
    )


def _entry(
    acknowledgements: AppliedAcknowledgements, gate: Gate, suppressed: dict[str, Any], stack_path: str
) -> int | None:
    """The file entry behind a suppressed violation, from where and under which id CDK found it."""
    acknowledged_id = str(suppressed.get("acknowledgedId", ""))
    rule_id = acknowledged_id.partition("::")[2] or acknowledged_id
    where = str(suppressed.get("acknowledgedAt", ""))
    path = "" if where == stack_path else where.removeprefix(f"{stack_path}/")
    entry = acknowledgements.entry_for(gate, rule_id, path=path)
    return entry.number if entry is not None else None
