"""How results look on a terminal: tables, the plan, deploy progress."""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from blog_infra.cdk import Event
from blog_infra.planning import Action, Plan, Replacement
from blog_infra.stacks import Output

_WIDTH = None if sys.stdout.isatty() else 200
"""Logs (CI, pipes) get wide lines rather than tables wrapped at 80 columns."""
console = Console(highlight=False, emoji=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, emoji=False, width=_WIDTH)


def outputs_table(title: str, outputs: list[Output]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("Output", style="bold")
    table.add_column("Value")
    table.add_column("Description", style="dim")
    for output in outputs:
        table.add_row(Text(output.key), Text(output.value), Text(output.description))
    return table


_ACTION_STYLE = {Action.ADD: "green", Action.MODIFY: "yellow", Action.REMOVE: "red"}


def plan_table(plan: Plan) -> Table:
    table = Table(title="Planned changes", title_justify="left")
    for column in ("Action", "Logical id", "Type", "Replacement", "Changed properties"):
        table.add_column(column)
    for change in plan.changes:
        danger = change.dangerous
        style = "bold red" if danger else _ACTION_STYLE[change.action]
        replacement = "" if change.replacement is Replacement.NO else change.replacement.value
        label = change.action.value + (" (STATEFUL)" if danger else "")
        table.add_row(
            label,
            change.logical_id,
            change.resource_type,
            replacement,
            ", ".join(change.properties),
            style=style,
        )
    return table


def plan_summary(plan: Plan) -> str:
    counts = plan.counts()
    parts = [f"{counts[a.value]} to {a.value}" for a in Action]
    parts.append(f"{counts['replace']} replaced")
    if counts["dangerous"]:
        parts.append(f"[bold red]{counts['dangerous']} stateful replaced or deleted[/]")
    return ", ".join(parts)


class DeployProgress:
    """A progress bar on a terminal; a few milestone lines elsewhere (CI logs)."""

    def __init__(self, verb: str) -> None:
        self.verb = verb
        self.interactive = sys.stdout.isatty()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task(verb, total=None)
        self.milestone = 0

    def __enter__(self) -> DeployProgress:
        if self.interactive:
            self.progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.interactive:
            self.progress.stop()

    def __call__(self, event: Event) -> None:
        if event.failed and event.reason:
            console.print(f"[red]{event.status}[/] {event.resource} ({event.resource_type}): {event.reason}")
        description = f"{self.verb}: {event.resource}"
        self.progress.update(self.task, completed=event.done, total=event.total, description=description)
        if not self.interactive and event.total:
            quarter = event.done * 4 // event.total
            if quarter > self.milestone:
                self.milestone = quarter
                console.print(f"{self.verb}: {event.done}/{event.total} resources ({event.resource})")
