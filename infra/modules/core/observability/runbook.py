"""`docs/runbook.md`: every alarm of the platform, generated from the observability module's records.

Regenerate it with `python -m infra.modules.core.observability.runbook`; `--check` exits 1, writing
nothing, when the committed file differs from what the code generates.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Stack

from infra.modules.core.observability.construct import (
    BROKER,
    DATABASE,
    EDGE,
    ORK_PROCESSOR,
    SCHEDULING,
    AlarmRecord,
    Observability,
)

RUNBOOK_ENV = "prod"
"""The environment whose alarms the runbook lists (names and thresholds)."""
RUNBOOK_PATH = Path(__file__).resolve().parents[4] / "docs" / "runbook.md"
COMMAND = "python -m infra.modules.core.observability.runbook"
_TITLES = {
    EDGE: "Edge",
    DATABASE: "Database",
    ORK_PROCESSOR: "Ork processor",
    BROKER: "Pipelines broker (Prefect's Redis)",
    SCHEDULING: "Pipelines scheduling",
}


def _title(surface: str) -> str:
    return _TITLES.get(surface, surface.replace("-", " ").capitalize())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def runbook_markdown(records: Sequence[AlarmRecord], *, environment: str = RUNBOOK_ENV) -> str:
    """The runbook: a summary table, then one section per surface with every alarm's meaning, what to
    check first, its threshold, its metric and how it treats missing data."""
    if not records:
        raise ValueError("runbook_markdown needs at least one alarm record")
    names = [record.name for record in records]
    if len(set(names)) != len(names):
        raise ValueError(f"runbook_markdown: alarm names repeat: {', '.join(sorted(names))}")
    surfaces = list(dict.fromkeys(record.surface for record in records))
    lines = [
        "# Runbook: the platform's alarms",
        "",
        f"<!-- Generated from infra/modules/core/observability; do not edit. Regenerate: `{COMMAND}` -->",
        "",
        f"Generated from the alarms of the `{environment}` environment by `{COMMAND}` "
        f"(`{COMMAND} --check` fails when this file is out of date).",
        "",
        "Every alarm notifies the alerts topic (`<stack>-alerts`, e-mail and HTTPS subscriptions from the "
        "environment's configuration) when it fires and again when it recovers; its description in "
        "CloudWatch ends with the *check first* line below. The dashboard of the same name as the stack "
        "shows one row per surface with the alarms' states and their metrics.",
        "",
        "Data lost or damaged (a bad migration, a dropped table) raises no alarm: restore the shared Aurora "
        "cluster from a snapshot or a point in time with `blog-infra db restore`, as "
        "[operations: database snapshot and restore](operations.md#database-snapshot-and-restore) describes "
        "(the plan first, then `--yes`; the durations measured and expected on AWS are there).",
        "",
        "| Alarm | Surface | Fires when |",
        "|---|---|---|",
    ]
    lines += [
        f"| [`{record.name}`](#{record.name}) | {_title(record.surface)} | {_cell(record.threshold)} |"
        for record in records
    ]
    for surface in surfaces:
        lines += ["", f"## {_title(surface)}"]
        for record in (r for r in records if r.surface == surface):
            lines += [
                "",
                f"### {record.name}",
                "",
                f"- **What it means:** {record.meaning}",
                f"- **Check first:** {record.check_first}",
                f"- **Fires when:** {record.threshold}",
                f"- **Metric:** {record.metric}",
                f"- **Missing data:** {record.missing_data}",
            ]
    return "\n".join(lines) + "\n"


def alarm_records(stack: Stack) -> list[AlarmRecord]:
    """The records of every `Observability` construct in `stack`."""
    modules = [node for node in stack.node.find_all() if isinstance(node, Observability)]
    if not modules:
        raise LookupError(f"{stack.stack_name} has no Observability construct: wire it into infra/stack.py")
    return [record for module in modules for record in module.alarms]


def generate(environment: str = RUNBOOK_ENV) -> str:
    """The runbook of `environment`'s root stack."""
    from infra.app import build_app
    from infra.config import load_config

    _, stack = build_app(load_config(environment))
    return runbook_markdown(alarm_records(stack), environment=environment)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("--check", action="store_true", help="Exit 1 when docs/runbook.md is out of date.")
    args = parser.parse_args(argv)
    text = generate()
    current = RUNBOOK_PATH.read_text(encoding="utf-8") if RUNBOOK_PATH.is_file() else None
    if args.check:
        if current != text:
            print(f"{RUNBOOK_PATH.name} is out of date: run {COMMAND}", file=sys.stderr)
            return 1
        return 0
    if current != text:
        RUNBOOK_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {RUNBOOK_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
