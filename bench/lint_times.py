"""The cfn-lint gate (`cfn_lint_result`) on one environment's gated template, timed RUNS times in one
process after one gated synthesis (untimed); prints JSON with the runs and their median. With
`--findings PATH` it also writes the gate's result (every finding, acknowledged and failing) there,
so that two trees can be compared finding for finding.

    .venv/bin/python bench/lint_times.py prod --runs 5 --findings /var/tmp/lint-prod.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from blog_infra.gates.lint import cfn_lint_result
from blog_infra.gates.synthesized import synth_with_gates
from infra.config import load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env", nargs="?", default="prod")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--findings", type=Path, help="write the gate's result (JSON) here")
    args = parser.parse_args()
    config = load_config(args.env)
    with tempfile.TemporaryDirectory() as scratch:
        gated = synth_with_gates(config, Path(scratch) / "gated", guard=False)
        template = gated.assembly.template()
    runs = []
    for _ in range(args.runs):
        started = time.perf_counter()
        result = cfn_lint_result(template, gated.acknowledgements, region=config.region)
        runs.append(round(time.perf_counter() - started, 3))
    if args.findings is not None:
        args.findings.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    print(
        json.dumps(
            {
                "env": args.env,
                "runs_s": runs,
                "median_s": statistics.median(runs),
                "acknowledged": len(result.acknowledged),
                "failing": len(result.failing),
                "evaluated": result.evaluated,
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
