"""The five safety gates run on an environment's synthesized templates, and what they found.

cdk-nag (AwsSolutions) runs inside the synthesis as a CDK validation plugin; the Control Tower
proactive controls (cfn-guard, `guard.py`), cfn-lint, checkov and the IAM reference gate (every
policy statement against the IAM Service Authorization Reference) run on the templates it wrote. Every
finding is either acknowledged by an entry of `infra/acknowledgements.toml` or failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GATE_ORDER = ("cdk-nag", "cfn-guard", "cfn-lint", "checkov", "iam-reference")


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One rule of one gate violated by one resource."""

    gate: str
    rule: str
    """The rule as the gate reports it: `AwsSolutions-IAM5[Resource::*]`, `CT.S3.PR.2`, `W3005`,
    `IAM-RESOURCE-TYPE[s3:GetObject]`, ..."""
    resource: str
    """Construct path relative to the stack, or logical id, or the template location."""
    message: str
    acknowledgement: int | None = None
    """Number of the entry of the acknowledgement file that acknowledges it; None when failing."""

    def to_json(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "rule": self.rule,
            "resource": self.resource,
            "message": self.message,
            "acknowledgement": self.acknowledgement,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        """The finding `to_json` wrote (the assembly cache keeps gate results this way)."""
        return cls(
            gate=str(data["gate"]),
            rule=str(data["rule"]),
            resource=str(data["resource"]),
            message=str(data["message"]),
            acknowledgement=data["acknowledgement"],
        )

    def line(self) -> str:
        return f"{self.gate} | {self.rule} | {self.resource} | {self.message}"


@dataclass(kw_only=True)
class GateResult:
    """What one gate found on one environment's template."""

    gate: str
    env: str
    evaluated: str
    """What the gate ran, e.g. `237 controls` or `527 checks`."""
    acknowledged: list[Finding] = field(default_factory=list)
    failing: list[Finding] = field(default_factory=list)

    @property
    def used_acknowledgements(self) -> set[int]:
        return {f.acknowledgement for f in self.acknowledged if f.acknowledgement is not None}

    def to_json(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "env": self.env,
            "evaluated": self.evaluated,
            "acknowledged": [f.to_json() for f in self.acknowledged],
            "failing": [f.to_json() for f in self.failing],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateResult:
        """The result `to_json` wrote."""
        return cls(
            gate=str(data["gate"]),
            env=str(data["env"]),
            evaluated=str(data["evaluated"]),
            acknowledged=[Finding.from_json(f) for f in data["acknowledged"]],
            failing=[Finding.from_json(f) for f in data["failing"]],
        )


def outside_the_file(finding: Finding) -> Finding:
    """A finding acknowledged somewhere else than the acknowledgement file: failing."""
    return Finding(
        gate=finding.gate,
        rule=finding.rule,
        resource=finding.resource,
        message=f"acknowledged outside infra/acknowledgements.toml: {finding.message}",
    )


def dedupe(findings: list[Finding]) -> list[Finding]:
    """The findings without repeats, in a stable order."""
    unique = {(f.rule, f.resource, f.acknowledgement): f for f in findings}
    return sorted(unique.values(), key=lambda f: (f.rule, f.resource))
