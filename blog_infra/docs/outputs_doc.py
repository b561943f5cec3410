"""`docs/outputs.md`: the consumer contract, from `Contract.values` of the synthesized stack."""

from __future__ import annotations

from blog_infra.docs.platform import Platform
from infra.ownership import RELATED_REPOSITORIES


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def contract_table(platform: Platform) -> str:
    contract = platform.stack.contract
    rows = [
        f"{len(contract.values)} values, published by the `{platform.config.name}` stack "
        f"`{platform.stack.stack_name}` both as SSM parameters under `{contract.ssm_prefix}/` and as stack "
        "outputs. Other environments use `/blog/<env>/`.",
        "",
        "| SSM parameter | Stack output | Description | Consumers |",
        "|---|---|---|---|",
    ]
    for value in contract.values:
        rows.append(
            f"| `{contract.ssm_prefix}/{value.path}` | `{value.output_id}` | {_cell(value.description)} "
            f"| {', '.join(value.consumers) or 'operators (no sibling repository)'} |"
        )
    return "\n".join(rows)


def by_consumer(platform: Platform) -> str:
    contract = platform.stack.contract
    lines = []
    for related in RELATED_REPOSITORIES:
        paths = [value.path for value in contract.values if related.name.value in value.consumers]
        if paths:
            lines.append(f"- **{related.name.value}**: " + ", ".join(f"`{path}`" for path in paths))
    return "\n".join(lines)


def blocks(platform: Platform) -> dict[str, str]:
    return {"contract": contract_table(platform), "contract-by-consumer": by_consumer(platform)}


SKELETON = """# Outputs: the consumer contract

Every value a sibling repository reads from the platform. Applications read the SSM parameters at run
time (`aws ssm get-parameter --name /blog/prod/data/buckets/raw`); operators and CI read the stack
outputs (`blog-infra outputs --env prod --json`). The values are published by `infra/contract.py`
from the root stack; this page is generated from the same list.

<!-- BEGIN GENERATED: contract -->
<!-- END GENERATED: contract -->

## By consumer

<!-- BEGIN GENERATED: contract-by-consumer -->
<!-- END GENERATED: contract-by-consumer -->
"""
