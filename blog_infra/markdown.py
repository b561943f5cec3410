"""A plan as GitHub-flavoured Markdown: the pull-request comment that CI posts and keeps up to date."""

from __future__ import annotations

from blog_infra.planning import Action, Plan, Replacement, ResourceChange

PLAN_MARKER = "<!-- blog-infra-plan -->"
"""Hidden first line of the comment; CI finds its previous comment by it and edits it in place."""


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _danger_reason(change: ResourceChange) -> str:
    if change.action is Action.REMOVE:
        if change.retained:
            return "removed from the stack; its DeletionPolicy keeps the data, orphaned outside the stack"
        return "deleted with its data"
    if change.replacement is Replacement.YES:
        verb = "replaced: a new, empty resource takes its place"
    else:
        verb = "may be replaced: it refers to a replaced resource through an immutable property"
    if change.properties:
        verb += f" (changed: {', '.join(change.properties)})"
    return verb


def _summary(plan: Plan) -> str:
    counts = plan.counts()
    parts = [f"{counts[action.value]} to {action.value}" for action in Action]
    parts.append(f"{counts['replace']} replaced")
    parts.append(f"{counts['dangerous']} stateful replaced or deleted")
    return "**Summary:** " + ", ".join(parts) + "."


def _danger_block(plan: Plan) -> list[str]:
    dangerous = plan.dangerous
    noun = "resource" if len(dangerous) == 1 else "resources"
    lines = [
        "> [!CAUTION]",
        f"> **DANGER: {len(dangerous)} stateful {noun} would be replaced or deleted.** "
        "Their data is lost or left outside the stack. `blog-infra deploy` refuses this plan unless each "
        "one is named with `--allow-replace LOGICAL_ID`.",
        ">",
    ]
    lines += [f"> - `{c.logical_id}` ({c.resource_type}): {_danger_reason(c)}" for c in dangerous]
    return lines


def _table(plan: Plan) -> list[str]:
    lines = [
        "| Action | Logical id | Type | Replacement | Changed properties |",
        "|---|---|---|---|---|",
    ]
    for change in plan.changes:
        action = change.action.value
        if change.dangerous:
            action = f"**{action} (STATEFUL)**"
        replacement = "" if change.replacement is Replacement.NO else change.replacement.value
        properties = ", ".join(_code(_cell(p)) for p in change.properties)
        lines.append(
            f"| {action} | {_code(_cell(change.logical_id))} | {_cell(change.resource_type)} "
            f"| {replacement} | {properties} |"
        )
    return lines


def plan_markdown(plan: Plan, *, stack: str, target: str) -> str:
    """`plan` for stack `stack` on `target` (e.g. "AWS account 123456789012 in us-east-1") as Markdown.

    The marker comes first, then the heading, the DANGER block when a stateful resource would be replaced
    or deleted, the counts, and one table row per changed resource; "No changes." when there is nothing.
    """
    lines = [PLAN_MARKER, f"### Plan: `{stack}` on {target}", ""]
    if plan.empty:
        lines.append("No changes.")
        return "\n".join(lines) + "\n"
    if plan.dangerous:
        lines += [*_danger_block(plan), ""]
    lines += [_summary(plan), ""]
    if plan.changes:
        lines += [*_table(plan), ""]
    if plan.outputs_changed:
        lines.append("**Outputs changed:** " + ", ".join(_code(o) for o in plan.outputs_changed))
    return "\n".join(lines).rstrip("\n") + "\n"
