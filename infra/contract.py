"""The consumer contract: every value a sibling repository reads, published twice.

Each value becomes an SSM parameter under `/blog/<env>/...` (what applications read at run time)
and a stack output (what operators and CI read). `docs/outputs.md` is generated from the same list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct

CONSUMER_ROLES: dict[str, tuple[str, ...]] = {
    "blog_data": ("flow-run-task",),
    "blog_portal": ("backstage-task",),
    "blog_code": ("frontend",),
    "blog_infra": ("ci-plan",),
}
"""The role each consumer reads the contract with, by its name after `<stack>-`: blog_data's flow runs,
the portal's task, the Vercel frontend, and this repository's CI (whose verify policy reads `/blog/*`).
`tests/invariants/test_contract_access.py` walks every entry with these roles."""


@dataclass(frozen=True)
class ContractValue:
    """One published value."""

    path: str
    """Relative SSM path, e.g. `data/buckets/raw`; the parameter is `<prefix>/<path>`."""
    output_id: str
    description: str
    consumers: tuple[str, ...]
    """Repositories that read it, each with its role in `CONSUMER_ROLES`; empty: operators only."""
    object_prefixes: tuple[tuple[str, str], ...] = field(default=())
    """(consumer, key prefix) for a bucket a consumer reads only under a prefix (no listing)."""


class Contract(Construct):
    """Publishes values as SSM parameters and stack outputs and remembers what it published."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        ssm_prefix: str,
        readers: Mapping[str, Sequence[iam.IGrantable]] | None = None,
    ) -> None:
        """`readers`: the roles of each consumer that read its parameters at run time; each gets
        `ssm:GetParameter(s)` on exactly the parameters that name its consumer."""
        super().__init__(scope, id)
        if not ssm_prefix.startswith("/") or ssm_prefix.endswith("/"):
            raise ValueError("Contract ssm_prefix must start with '/' and not end with '/'")
        self.ssm_prefix = ssm_prefix
        self.values: list[ContractValue] = []
        self._readers = dict(readers or {})
        self._statements: dict[str, iam.PolicyStatement] = {}

    def publish(
        self,
        path: str,
        value: str,
        *,
        description: str,
        consumers: tuple[str, ...],
        object_prefixes: tuple[tuple[str, str], ...] = (),
    ) -> None:
        output_id = "".join(part.capitalize() for part in path.replace("-", "/").split("/"))
        entry = ContractValue(
            path=path,
            output_id=output_id,
            description=description,
            consumers=consumers,
            object_prefixes=object_prefixes,
        )
        if any(existing.path == path for existing in self.values):
            raise ValueError(f"contract value {path!r} is published twice")
        unknown = sorted({c for c, _ in object_prefixes} - set(consumers))
        if unknown:
            raise ValueError(
                f"contract value {path!r}: object_prefixes name {', '.join(unknown)}, not a consumer"
            )
        self.values.append(entry)
        parameter = ssm.StringParameter(
            self,
            output_id,
            parameter_name=f"{self.ssm_prefix}/{path}",
            string_value=value,
            description=description,
        )
        CfnOutput(Stack.of(self), output_id, value=value, description=description)
        for consumer in consumers:
            for reader in self._readers.get(consumer, ()):
                self._statement(reader).add_resources(parameter.parameter_arn)

    def _statement(self, reader: iam.IGrantable) -> iam.PolicyStatement:
        """One statement per reader, listing its parameters (not one per parameter)."""
        key = reader.grant_principal.node.path if hasattr(reader.grant_principal, "node") else str(id(reader))
        if key not in self._statements:
            statement = iam.PolicyStatement(
                sid="ReadContractParameters", actions=["ssm:GetParameter", "ssm:GetParameters"]
            )
            reader.grant_principal.add_to_principal_policy(statement)
            self._statements[key] = statement
        return self._statements[key]
