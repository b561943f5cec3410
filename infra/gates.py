"""The safety gates' acknowledgements, applied to the CDK app, and the gates that run at synthesis.

Every exception to every gate lives in `infra/acknowledgements.toml`. This module reads and
validates that file and writes each acknowledgement where its gate reads it:

- cdk-nag runs as a CDK validation plugin; its acknowledgements are
  `Validations.of(resource).acknowledge(...)` calls, which CDK applies to the plugin's report (and
  lists as suppressed violations in `validation-report.json`).
- cfn-guard (the Control Tower proactive controls) runs on the synthesized template
  (blog_infra/gates/guard.py), which reads the plan of this module. Its acknowledgements are still
  written as `Validations` acknowledgements, as when it was a plugin, so that the validator can
  still run as one (`enable_gates(app, guard_plugin=True)`, which the equivalence test compares
  against the template pass) on the very same tree.
- cfn-lint reads `Metadata: cfn-lint: config: ignore_checks` on a resource, or on the template for
  an acknowledgement that holds for every resource.
- checkov reads `Metadata: checkov: skip: [{id, comment}]` on a resource.
- the IAM reference gate (blog_infra/gates/iam_policies.py) reads the plan of this module itself:
  nothing is written to the template for it.

The acknowledgements are applied on every synthesis, so the template is the same whether or not
the plugins run; `enable_gates` adds cdk-nag (a synthesis then fails on any finding of it that is
not acknowledged).
"""

from __future__ import annotations

import re
import tarfile
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, cast

from aws_cdk import Acknowledgment, App, CfnResource, IPolicyValidationPlugin, Stack, Validations

ACKNOWLEDGEMENTS_FILE = Path(__file__).resolve().parent / "acknowledgements.toml"
MIN_REASON_LENGTH = 20
GLOBAL = "*"
ACCOUNT_PLACEHOLDER = "{account}"
REGION_PLACEHOLDER = "{region}"
STACK_PLACEHOLDER = "{stack}"
ENV_PLACEHOLDER = "{env}"

_KEYS = frozenset({"gate", "rule", "applies_to", "resources", "reason", "envs"})
_REQUIRED = ("gate", "rule", "resources", "reason")
_RULE_PATTERNS = {
    "cdk-nag": re.compile(r"^AwsSolutions-[A-Z]+[0-9]+[a-z]?$"),
    "cfn-guard": re.compile(r"^CT\.[A-Z0-9-]+\.PR\.[0-9]+$"),
    "cfn-lint": re.compile(r"^[EWI][0-9]{4}$"),
    "checkov": re.compile(r"^CKV2?_AWS_[0-9]+$"),
    "iam-reference": re.compile(r"^IAM-(?:UNKNOWN-ACTION|RESOURCE-TYPE|CONDITION-KEY|UNRESOLVED)$"),
}
_SEVERAL_PER_RESOURCE = frozenset({"cdk-nag", "iam-reference"})
"""Gates that report several findings of one rule per resource, told apart by `applies_to`."""
_GUARD_RULE = re.compile(r"^rule\s+([a-z0-9_]+)\s+when", re.MULTILINE)
_GUARD_CONTROL = re.compile(r"\[(CT\.[A-Z0-9-]+\.PR\.[0-9]+)\]")


class Gate(StrEnum):
    """The five gates, by the name the acknowledgement file uses."""

    CDK_NAG = "cdk-nag"
    CFN_GUARD = "cfn-guard"
    CFN_LINT = "cfn-lint"
    CHECKOV = "checkov"
    IAM_REFERENCE = "iam-reference"


PLUGIN_NAMESPACES = {Gate.CDK_NAG: "AwsSolutions", Gate.CFN_GUARD: "cdk-validator-cfnguard"}
"""The namespace under which CDK reports (and acknowledges) each validation plugin's rules."""


class AcknowledgementError(ValueError):
    """The acknowledgement file is invalid; the message names the entry and what to change."""


@dataclass(frozen=True, kw_only=True)
class Acknowledgement:
    """One `[[ack]]` entry: a rule of one gate, acknowledged on some resources, for a reason."""

    number: int
    """Position of the entry in the file, from 1."""
    gate: Gate
    rule: str
    """The gate's rule: `AwsSolutions-IAM5`, `CT.S3.PR.2`, `W3005`, `CKV_AWS_18`."""
    applies_to: tuple[str, ...] = ()
    """cdk-nag and iam-reference: the findings of a rule that reports several per resource, such as
    `Action::s3:*` for `AwsSolutions-IAM5[Action::s3:*]` or `s3:GetObject` for
    `IAM-RESOURCE-TYPE[s3:GetObject]`; `{account}`, `{region}` and `{stack}` stand for the stack's
    values, `{env}` for the environment's name."""
    resources: tuple[str, ...]
    """Construct paths relative to the stack (globs; a path also covers what lies below it), logical
    ids, or `*` for every resource of the stack."""
    reason: str
    envs: tuple[str, ...] = ()
    """Environments the acknowledgement holds in; empty means all."""

    @property
    def label(self) -> str:
        return f"#{self.number} {self.gate} {self.rule}"

    @property
    def is_global(self) -> bool:
        return self.resources == (GLOBAL,)

    def holds_in(self, env: str) -> bool:
        return not self.envs or env in self.envs

    def rule_ids(self, stack: Stack | None = None, env: str | None = None) -> tuple[str, ...]:
        """The finding ids this entry acknowledges, as the gate reports them in `env`'s `stack`."""
        if self.gate.value in _SEVERAL_PER_RESOURCE and self.applies_to:
            return tuple(f"{self.rule}[{_substitute(item, stack, env)}]" for item in self.applies_to)
        if self.gate is Gate.CFN_GUARD:
            return (guard_rule_names()[self.rule],)
        return (self.rule,)

    def matches(self, path: str, logical_id: str) -> bool:
        """Whether the entry names the resource at `path` (relative to the stack) or `logical_id`."""
        if self.is_global:
            return True
        return any(
            pattern == logical_id or fnmatchcase(path, pattern) or fnmatchcase(path, f"{pattern}/*")
            for pattern in self.resources
        )


def _substitute(text: str, stack: Stack | None, env: str | None) -> str:
    if env is not None:
        text = text.replace(ENV_PLACEHOLDER, env)
    if stack is None:
        return text
    return (
        text.replace(ACCOUNT_PLACEHOLDER, stack.account)
        .replace(REGION_PLACEHOLDER, stack.region)
        .replace(STACK_PLACEHOLDER, stack.stack_name)
    )


@cache
def guard_rule_names() -> Mapping[str, str]:
    """Control Tower control id (`CT.S3.PR.2`) -> guard rule name, from the rules the validator ships."""
    package = resources.files("cdklabs.cdk_validator_cfnguard._jsii")
    tarball = next(p for p in package.iterdir() if p.name.endswith(".jsii.tgz"))
    names: dict[str, str] = {}
    with tarball.open("rb") as stream, tarfile.open(fileobj=stream, mode="r:gz") as archive:
        for member in archive:
            if not (member.isfile() and member.name.endswith(".guard") and "/control-tower/" in member.name):
                continue
            extracted = archive.extractfile(member)
            if extracted is None:
                continue
            text = extracted.read().decode("utf-8")
            rule, control = _GUARD_RULE.search(text), _GUARD_CONTROL.search(text)
            if rule and control:
                names[control.group(1)] = rule.group(1)
    return names


def guard_control_of(rule_name: str) -> str:
    """The Control Tower control id of a guard rule name (the name itself when unknown)."""
    for control, name in guard_rule_names().items():
        if name == rule_name:
            return control
    return rule_name


def load_acknowledgements(path: Path = ACKNOWLEDGEMENTS_FILE) -> tuple[Acknowledgement, ...]:
    """Read and validate the acknowledgement file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AcknowledgementError(f"cannot read {path}: {exc.strerror}") from None
    return parse_acknowledgements(text, source=path.name)


def parse_acknowledgements(
    text: str, *, source: str = "acknowledgements.toml"
) -> tuple[Acknowledgement, ...]:
    """Validate the TOML text of an acknowledgement file; raise `AcknowledgementError` on any problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AcknowledgementError(f"{source} is not valid TOML: {exc}") from None
    unknown_tables = set(document) - {"ack"}
    if unknown_tables:
        raise AcknowledgementError(
            f"{source}: unknown top-level keys {', '.join(sorted(unknown_tables))}; only [[ack]] entries"
        )
    entries = document.get("ack", [])
    if not isinstance(entries, list):
        raise AcknowledgementError(f"{source}: 'ack' must be an array of tables ([[ack]])")
    acks = tuple(_parse_entry(entry, number, source) for number, entry in enumerate(entries, start=1))
    _refuse_duplicates(acks, source)
    return acks


def _parse_entry(entry: Any, number: int, source: str) -> Acknowledgement:
    where = f"{source} entry #{number}"
    if not isinstance(entry, dict):
        raise AcknowledgementError(f"{where} must be a table")
    unknown = set(entry) - _KEYS
    if unknown:
        raise AcknowledgementError(
            f"{where}: unknown keys {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_KEYS))}"
        )
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        raise AcknowledgementError(f"{where} ({entry.get('rule', '?')}): missing {', '.join(missing)}")
    gate_name, rule, reason = entry["gate"], entry["rule"], entry["reason"]
    if gate_name not in {g.value for g in Gate}:
        raise AcknowledgementError(
            f"{where}: gate {gate_name!r} is not one of {', '.join(g.value for g in Gate)}"
        )
    gate = Gate(gate_name)
    where = f"{where} ({gate} {rule})"
    if not isinstance(rule, str) or not _RULE_PATTERNS[gate].fullmatch(rule):
        raise AcknowledgementError(f"{where}: rule {rule!r} is not a {gate} rule id")
    if gate is Gate.CFN_GUARD and rule not in guard_rule_names():
        raise AcknowledgementError(f"{where}: {rule} is not one of the Control Tower controls cfn-guard runs")
    if not isinstance(reason, str) or not _is_sentence(reason):
        raise AcknowledgementError(
            f"{where}: reason must be at least one full sentence ({MIN_REASON_LENGTH}+ characters, "
            "ending with a period)"
        )
    applies_to = _strings(entry.get("applies_to", []), f"{where}: applies_to", allow_empty=True)
    if applies_to and gate.value not in _SEVERAL_PER_RESOURCE:
        raise AcknowledgementError(
            f"{where}: applies_to is for cdk-nag and iam-reference rules that report several findings"
        )
    resources_ = _strings(entry["resources"], f"{where}: resources", allow_empty=False)
    if GLOBAL in resources_ and resources_ != (GLOBAL,):
        raise AcknowledgementError(f"{where}: '*' (every resource) cannot be combined with other resources")
    if resources_ == (GLOBAL,) and gate is Gate.CHECKOV:
        raise AcknowledgementError(f"{where}: checkov acknowledgements must name their resources")
    envs = _strings(entry.get("envs", []), f"{where}: envs", allow_empty=True)
    return Acknowledgement(
        number=number,
        gate=gate,
        rule=rule,
        applies_to=applies_to,
        resources=resources_,
        reason=" ".join(reason.split()),
        envs=envs,
    )


def _is_sentence(reason: str) -> bool:
    text = " ".join(reason.split())
    return len(text) >= MIN_REASON_LENGTH and text.endswith(".")


def _strings(value: Any, what: str, *, allow_empty: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise AcknowledgementError(f"{what} must be a list of non-empty strings")
    if not value and not allow_empty:
        raise AcknowledgementError(f"{what} must name at least one resource")
    if len(set(value)) != len(value):
        raise AcknowledgementError(f"{what} lists the same value twice")
    return tuple(value)


def _refuse_duplicates(acks: Sequence[Acknowledgement], source: str) -> None:
    seen: dict[tuple[str, str, str], Acknowledgement] = {}
    for ack in acks:
        for rule_id in ack.rule_ids():
            for resource in ack.resources:
                key = (ack.gate.value, rule_id, resource)
                if key in seen:
                    raise AcknowledgementError(
                        f"{source}: entries {seen[key].label} and {ack.label} both acknowledge "
                        f"{rule_id} on {resource}; merge them"
                    )
                seen[key] = ack


@dataclass(frozen=True)
class StackResource:
    """A CloudFormation resource of the stack, as the acknowledgements see it."""

    resource: CfnResource
    path: str
    """Construct path relative to the stack, e.g. `Data/Cached/Resource`."""
    logical_id: str


@dataclass
class AppliedAcknowledgements:
    """Where each acknowledgement that holds in an environment applies, so that the gates' reports
    can be traced back to the entries of the file."""

    env: str
    stack: Stack
    acknowledgements: tuple[Acknowledgement, ...]
    rule_ids: dict[int, tuple[str, ...]] = field(default_factory=dict)
    """Entry number -> the finding ids it acknowledges, placeholders substituted."""
    targets: dict[int, list[StackResource]] = field(default_factory=dict)
    """Entry number -> the resources it applies to (empty for an entry that holds for all)."""
    stack_name: str = ""
    """The stack's name and construct path, read once when planned: the gates that run on the
    templates read these, never the stack, so that they may run on another thread than the jsii
    kernel's (which serves one caller at a time)."""
    stack_path: str = ""

    @property
    def active(self) -> tuple[Acknowledgement, ...]:
        return tuple(a for a in self.acknowledgements if a.holds_in(self.env))

    def entry_for(
        self, gate: Gate, rule_id: str, *, path: str | None = None, logical_id: str | None = None
    ) -> Acknowledgement | None:
        """The entry that acknowledges `rule_id` of `gate` on the resource at `path` (relative to the
        stack; the stack itself for `""`) or with `logical_id`."""
        for ack in self.active:
            if ack.gate is not gate or rule_id not in self.rule_ids[ack.number]:
                continue
            if ack.is_global:
                return ack
            for target in self.targets[ack.number]:
                if target.path == path or target.logical_id == logical_id:
                    return ack
        return None


def stack_resources(stack: Stack) -> list[StackResource]:
    """Every CloudFormation resource of `stack`, with its relative path and logical id."""
    prefix = f"{stack.node.path}/"
    found = []
    for construct in stack.node.find_all():
        if isinstance(construct, CfnResource) and Stack.of(construct) is stack:
            found.append(
                StackResource(
                    resource=construct,
                    path=construct.node.path.removeprefix(prefix),
                    logical_id=str(stack.resolve(construct.logical_id)),
                )
            )
    return found


def plan_acknowledgements(
    stack: Stack, env: str, acknowledgements: Iterable[Acknowledgement] | None = None
) -> AppliedAcknowledgements:
    """Where each acknowledgement that holds in `env` applies in `stack` (nothing is written)."""
    acks = tuple(load_acknowledgements() if acknowledgements is None else acknowledgements)
    plan = AppliedAcknowledgements(
        env=env, stack=stack, acknowledgements=acks, stack_name=stack.stack_name, stack_path=stack.node.path
    )
    all_resources = stack_resources(stack)
    claimed: dict[tuple[Gate, str, str], Acknowledgement] = {}
    for ack in plan.active:
        rule_ids = ack.rule_ids(stack, env)
        plan.rule_ids[ack.number] = rule_ids
        targets = [] if ack.is_global else [r for r in all_resources if ack.matches(r.path, r.logical_id)]
        plan.targets[ack.number] = targets
        for rule_id in rule_ids:
            for where in [GLOBAL] if ack.is_global else [t.path for t in targets]:
                other = claimed.setdefault((ack.gate, rule_id, where), ack)
                if other is not ack:
                    raise AcknowledgementError(
                        f"entries {other.label} and {ack.label} both acknowledge {rule_id} on {where} "
                        f"in {env}; narrow one of them"
                    )
    return plan


def apply_acknowledgements(
    stack: Stack, env: str, acknowledgements: Iterable[Acknowledgement] | None = None
) -> AppliedAcknowledgements:
    """Write every acknowledgement that holds in `env` where its gate reads it."""
    plan = plan_acknowledgements(stack, env, acknowledgements)
    lint_ignores: dict[str, tuple[CfnResource, set[str]]] = {}
    checkov_skips: dict[str, tuple[CfnResource, dict[str, str]]] = {}
    global_lint: set[str] = set()
    for ack in plan.active:
        rule_ids, targets = plan.rule_ids[ack.number], plan.targets[ack.number]
        if ack.gate in PLUGIN_NAMESPACES:
            namespace = PLUGIN_NAMESPACES[ack.gate]
            scopes: list[Stack | CfnResource] = [stack] if ack.is_global else [t.resource for t in targets]
            for scope in scopes:
                Validations.of(scope).acknowledge(
                    *(Acknowledgment(id=f"{namespace}::{rule_id}", reason=ack.reason) for rule_id in rule_ids)
                )
        elif ack.gate is Gate.IAM_REFERENCE:
            continue
        elif ack.gate is Gate.CFN_LINT:
            if ack.is_global:
                global_lint.update(rule_ids)
            for target in targets:
                lint_ignores.setdefault(target.path, (target.resource, set()))[1].update(rule_ids)
        else:
            for target in targets:
                skips = checkov_skips.setdefault(target.path, (target.resource, {}))[1]
                skips.update(dict.fromkeys(rule_ids, ack.reason))
    for resource, checks in lint_ignores.values():
        resource.add_metadata("cfn-lint", {"config": {"ignore_checks": sorted(checks)}})
    for resource, skips in checkov_skips.values():
        resource.add_metadata(
            "checkov", {"skip": [{"id": check, "comment": reason} for check, reason in sorted(skips.items())]}
        )
    if global_lint:
        stack.add_metadata("cfn-lint", {"config": {"ignore_checks": sorted(global_lint)}})
    return plan


def enable_gates(app: App, *, guard_plugin: bool = False) -> None:
    """Run cdk-nag's AwsSolutions pack on every synthesis of `app`: it then fails on any finding of
    it that is not acknowledged. The Control Tower controls run on the template after the synthesis
    (blog_infra/gates/guard.py); `guard_plugin` also runs them inside it, as the validator's CDK
    plugin (`CfnGuardValidator(control_tower_rules_enabled=True)`), as they ran before: only the
    test that proves both give the same findings, and the benchmark, ask for it."""
    from cdk_nag import AwsSolutionsChecks

    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    if guard_plugin:
        add_guard_plugin(app)


def add_guard_plugin(app: App) -> None:
    """The Control Tower controls inside the synthesis of `app`, as the validator's CDK plugin."""
    from cdklabs.cdk_validator_cfnguard import CfnGuardValidator

    guard = cast(IPolicyValidationPlugin, CfnGuardValidator(control_tower_rules_enabled=True))
    Validations.of(app).add_plugins(guard)
