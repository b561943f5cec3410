"""Write the mutation score of `make mutation` and its surviving mutants to reports/mutation.md.

Reads what `mutmut run` left in mutants/: the score is the share of mutants that a test killed,
out of every mutant (a mutant that no test runs counts as surviving). Exits 1 below the floor.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REPORT = REPO_ROOT / "reports" / "mutation.md"
FLOOR = 0.85
KILLED = {"killed", "timeout", "segfault"}
"""A mutant that crashes the tests or makes them hang is caught as surely as one that fails them."""


def results() -> dict[str, tuple[str, Path]]:
    """Each mutant's status and source file, as mutmut (pinned in requirements-mutation.txt) keeps them."""
    from mutmut.__main__ import SourceFileMutationData, status_by_exit_code, walk_mutatable_files

    found = {}
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for mutant, exit_code in data.exit_code_by_key.items():
            found[mutant] = (str(status_by_exit_code[exit_code]), Path(path))
    return found


def diff(mutant: str, path: Path) -> list[str]:
    from mutmut.__main__ import get_diff_for_mutant

    text = get_diff_for_mutant(mutant, path=path)
    return [line for line in text.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def module(mutant: str) -> str:
    return mutant.split(".x")[0]


def main() -> int:
    os.chdir(REPO_ROOT)
    found = results()
    if not found:
        print("error: no mutation results in mutants/: run 'make mutation'", file=sys.stderr)
        return 1
    statuses = {mutant: status for mutant, (status, _) in found.items()}
    killed = sum(status in KILLED for status in statuses.values())
    score = killed / len(statuses)
    per_module: dict[str, Counter[str]] = {}
    for mutant, status in statuses.items():
        per_module.setdefault(module(mutant), Counter())["killed" if status in KILLED else status] += 1
    lines = [
        "# Mutation score",
        "",
        f"**{score:.1%}** of {len(statuses)} mutants killed (floor {FLOOR:.0%}).",
        "",
        "| module | mutants | killed | survived | no tests |",
        "|---|---|---|---|---|",
    ]
    for name, counts in sorted(per_module.items()):
        lines.append(
            f"| `{name}` | {sum(counts.values())} | {counts['killed']} | {counts['survived']} "
            f"| {counts['no tests']} |"
        )
    survivors = sorted(m for m, status in statuses.items() if status not in KILLED)
    lines += ["", f"## Surviving mutants ({len(survivors)})", ""]
    for mutant in survivors:
        lines += [
            f"### `{mutant}` ({statuses[mutant]})",
            "",
            "```diff",
            *diff(mutant, found[mutant][1]),
            "```",
            "",
        ]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"Mutation score: {score:.1%} of {len(statuses)} mutants killed; {len(survivors)} survive")
    print(f"Report: {REPORT.relative_to(REPO_ROOT)}")
    return 0 if score >= FLOOR else 1


if __name__ == "__main__":
    sys.exit(main())
