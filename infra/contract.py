"""The consumer contract: every value a sibling repository reads, published twice.

Each value becomes an SSM parameter under `/blog/<env>/...` (what applications read at run time)
and a stack output (what operators and CI read). `docs/outputs.md` is generated from the same list.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ssm as ssm
from constructs import Construct


@dataclass(frozen=True)
class ContractValue:
    """One published value."""

    path: str
    """Relative SSM path, e.g. `data/buckets/raw`; the parameter is `<prefix>/<path>`."""
    output_id: str
    description: str
    consumers: tuple[str, ...]


class Contract(Construct):
    """Publishes values as SSM parameters and stack outputs and remembers what it published."""

    def __init__(self, scope: Construct, id: str, *, ssm_prefix: str) -> None:
        super().__init__(scope, id)
        if not ssm_prefix.startswith("/") or ssm_prefix.endswith("/"):
            raise ValueError("Contract ssm_prefix must start with '/' and not end with '/'")
        self.ssm_prefix = ssm_prefix
        self.values: list[ContractValue] = []

    def publish(self, path: str, value: str, *, description: str, consumers: tuple[str, ...]) -> None:
        output_id = "".join(part.capitalize() for part in path.replace("-", "/").split("/"))
        entry = ContractValue(path=path, output_id=output_id, description=description, consumers=consumers)
        if any(existing.path == path for existing in self.values):
            raise ValueError(f"contract value {path!r} is published twice")
        self.values.append(entry)
        ssm.StringParameter(
            self,
            output_id,
            parameter_name=f"{self.ssm_prefix}/{path}",
            string_value=value,
            description=description,
        )
        CfnOutput(Stack.of(self), output_id, value=value, description=description)
