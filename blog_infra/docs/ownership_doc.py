"""`docs/ownership.md`: the ownership map, the related repositories, the external services and the
resources of each component, from `infra/ownership.py`, the modules' declarations and the stack."""

from __future__ import annotations

from collections import Counter

from blog_infra.docs.platform import Platform
from infra.ownership import (
    EXTERNAL_SERVICES,
    NOT_OWNED,
    READ_ACCESS,
    RELATED_REPOSITORIES,
    ROOT_COMPONENTS,
    Owned,
    Ownership,
    OwnershipError,
    module_ownerships,
    ownership_of,
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _location(ownership: Ownership) -> str:
    location = ownership.location or ""
    if ownership.owned is Owned.NO:
        return f"— ({_cell(location)})"
    if location.startswith("infra/modules/"):
        return f"[`{location}`](../{location}/README.md)"
    return f"[`{location}`](../{location})"


def _composed_modules(platform: Platform) -> list[Ownership]:
    """The modules the root stack composes, in its order."""
    ordered: list[Ownership] = []
    for child in platform.stack.node.children:
        try:
            ownership = ownership_of(child)
        except OwnershipError:
            continue
        if ownership not in ordered and ownership.component not in {
            o.component for o in ROOT_COMPONENTS.values()
        }:
            ordered.append(ownership)
    return ordered


def composition_order(platform: Platform) -> list[Ownership]:
    """The modules in the order the root stack composes them, then any it does not compose."""
    ordered = _composed_modules(platform)
    return ordered + [o for o in module_ownerships() if o not in ordered]


def _repositories(ownership: Ownership) -> str:
    return ", ".join(repository.value for repository in ownership.repositories) or "—"


def ownership_map(platform: Platform) -> str:
    """The seed's ownership map, one row per component (or per surface of one), true to the code."""
    rows = [
        "| Component / Surface | Owned by this repo? | Location here | Seed (Terraform) location "
        "| Primary consumers | Sibling repositories |",
        "|---|---|---|---|---|---|",
    ]
    composed = [o.component for o in _composed_modules(platform)]
    components = [*composition_order(platform), ROOT_COMPONENTS["infra.contract"], *NOT_OWNED]
    for ownership in components:
        for surface in ownership.rows():
            seed = f"`{ownership.seed_location}`" if ownership.seed_location else "—"
            title = surface.title
            if ownership in module_ownerships() and ownership.component not in composed:
                title += " (not composed in the root stack)"
            rows.append(
                f"| {_cell(title)} | {ownership.owned.value} | {_location(ownership)} | {seed} "
                f"| {_cell(', '.join(surface.consumers))} | {_repositories(ownership)} |"
            )
    return "\n".join(rows)


def related_repositories(platform: Platform) -> str:
    rows = ["| Repository | Role | Components involved | Contract values it reads |", "|---|---|---|---|"]
    components = [*module_ownerships(), *ROOT_COMPONENTS.values(), *NOT_OWNED]
    for related in RELATED_REPOSITORIES:
        involved = [f"`{o.component}`" for o in components if related.name in o.repositories]
        values = sum(1 for value in platform.stack.contract.values if related.name.value in value.consumers)
        rows.append(
            f"| {related.name.value} | {_cell(related.role)} | {', '.join(involved) or '—'} "
            f"| {values or '—'} |"
        )
    return "\n".join(rows)


def external_services() -> str:
    rows = ["| Service | What it is | Integration | Components | Used by |", "|---|---|---|---|---|"]
    for service in EXTERNAL_SERVICES:
        components = ", ".join(f"`{c}`" for c in service.components)
        used_by = ", ".join(r.value for r in service.repositories) or "this repository"
        rows.append(
            f"| [{service.name}]({service.url}) | {_cell(service.kind)} | {_cell(service.integration)} "
            f"| {components} | {used_by} |"
        )
    return "\n".join(rows)


def _short(resource_type: str) -> str:
    return resource_type.removeprefix("AWS::")


def component_resources(platform: Platform) -> str:
    """What each component creates in the synthesized template (its resources carry its tag)."""
    counts: dict[str, Counter[str]] = {}
    for logical_id, owner in platform.owners.items():
        counts.setdefault(owner.component, Counter())[platform.resources[logical_id]["Type"]] += 1
    rows = [
        f"Resources of the `{platform.config.name}` root stack (`{platform.stack.stack_name}`, "
        f"{len(platform.resources)} in all), by the component that creates them; each carries its "
        "component in the `component` tag.",
        "",
        "| Component | Location | Resources | Types |",
        "|---|---|---|---|",
    ]
    for ownership in [*composition_order(platform), *ROOT_COMPONENTS.values()]:
        types = counts.get(ownership.component, Counter())
        listed = ", ".join(f"{_short(t)} x{n}" if n > 1 else _short(t) for t, n in sorted(types.items()))
        rows.append(
            f"| `{ownership.component}` | {_location(ownership)} | {sum(types.values())} | {listed or '—'} |"
        )
    return "\n".join(rows)


def read_access() -> str:
    rows = ["| Secret or bucket | Readers | Why |", "|---|---|---|"]
    for item in READ_ACCESS:
        readers = ", ".join(f"`{reader}`" for reader in item.readers) or "none (operators only)"
        rows.append(f"| `{item.resource}` | {readers} | {_cell(item.reason)} |")
    return "\n".join(rows)


def blocks(platform: Platform) -> dict[str, str]:
    """The generated blocks of `docs/ownership.md`, by name."""
    return {
        "read-access": read_access(),
        "ownership-map": ownership_map(platform),
        "related-repositories": related_repositories(platform),
        "external-services": external_services(),
        "component-resources": component_resources(platform),
    }


SKELETON = """# Ownership

What this repository owns, who consumes it, and where it lives. The tables are generated from
`infra/ownership.py`, each module's `OWNERSHIP` declaration and the synthesized stack: run `make docs`
after changing them.

## Ownership map

<!-- BEGIN GENERATED: ownership-map -->
<!-- END GENERATED: ownership-map -->

## Related repositories

<!-- BEGIN GENERATED: related-repositories -->
<!-- END GENERATED: related-repositories -->

## External services

<!-- BEGIN GENERATED: external-services -->
<!-- END GENERATED: external-services -->

## Resources per component

<!-- BEGIN GENERATED: component-resources -->
<!-- END GENERATED: component-resources -->

## Who reads which secret and bucket

<!-- BEGIN GENERATED: read-access -->
<!-- END GENERATED: read-access -->
"""
