"""The Control Tower controls on one environment's gated template, the two ways: every applicable rule
file in one cfn-guard run on the whole template (as the gate ran them before), and a run per group of
rule files on the part of the template it can select (`guard_violations`, as the gate runs them now).
RUNS times each, alternately, in one process after one gated synthesis (untimed), the cache off; the
CPU seconds are those of the Node.js and cfn-guard processes. Checks that both ways find the same
violations, and prints JSON with the runs and their medians.

    .venv/bin/python bench/guard_times.py prod --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from blog_infra.gates import guard
from blog_infra.gates.synthesized import synth_with_gates
from infra.config import load_config


def _comparable(violations: list[dict[str, Any]]) -> list[str]:
    """The violations without the template file each names (a part's, or the whole's)."""
    return sorted(
        json.dumps(
            {
                **v,
                "violatingResources": [
                    {k: x for k, x in r.items() if k != "templatePath"} for r in v["violatingResources"]
                ],
            },
            sort_keys=True,
        )
        for v in violations
    )


def _timed(run: Callable[[], list[dict[str, Any]]]) -> tuple[float, float, list[dict[str, Any]]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    violations = run()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return round(wall, 3), round(cpu, 3), violations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env", nargs="?", default="prod")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ["BLOG_INFRA_NO_CACHE"] = "1"
    config = load_config(args.env)
    with tempfile.TemporaryDirectory() as scratch:
        gated = synth_with_gates(config, Path(scratch) / "gated", guard=False)
        path = Path(scratch) / "template.json"
        path.write_text(json.dumps(gated.assembly.template()), encoding="utf-8")
        template = json.loads(path.read_text(encoding="utf-8"))
        rules = tuple(f.path for f in guard.applicable_rule_files(template))
        groups = {f.types for f in guard.applicable_rule_files(template)}
        ways: dict[str, Callable[[], list[dict[str, Any]]]] = {
            "whole template, one run": lambda: guard.run_validator(
                [guard.GuardJob(path, rules)], name=path.name
            ),
            "a run per group, on its part": lambda: guard.guard_violations(path),
        }
        runs: dict[str, dict[str, list[float]]] = {way: {"wall_s": [], "cpu_s": []} for way in ways}
        found: dict[str, list[str]] = {}
        for _ in range(args.runs):
            for way, run in ways.items():
                wall, cpu, violations = _timed(run)
                runs[way]["wall_s"].append(wall)
                runs[way]["cpu_s"].append(cpu)
                found[way] = _comparable(violations)
    same = len({tuple(v) for v in found.values()}) == 1
    print(
        json.dumps(
            {
                "env": args.env,
                "resources": len(template.get("Resources", {})),
                "rule_files": len(rules),
                "groups": len(groups),
                "violations": len(next(iter(found.values()))),
                "same_violations": same,
                "cpus": os.cpu_count(),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "ways": {
                    way: {
                        **values,
                        "wall_median_s": statistics.median(values["wall_s"]),
                        "cpu_median_s": statistics.median(values["cpu_s"]),
                    }
                    for way, values in runs.items()
                },
            },
            indent=2,
        )
    )
    if not same:
        raise SystemExit("the two ways found different violations")


if __name__ == "__main__":
    main()
