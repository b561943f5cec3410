"""docs/runbook.md lists every alarm of prod's Observability module; regenerate it with
`python -m infra.modules.core.observability.runbook`."""

from __future__ import annotations

from infra.modules.core.observability import runbook


def test_runbook_is_current() -> None:
    # GIVEN prod's root stack WHEN the runbook is generated from its alarm records
    expected = runbook.generate()
    # THEN the committed file is the same
    current = runbook.RUNBOOK_PATH.read_text(encoding="utf-8") if runbook.RUNBOOK_PATH.is_file() else ""
    assert current == expected, f"docs/runbook.md is out of date: run {runbook.COMMAND}"
    assert "Check first:" in current
