"""Before and after, interleaved: the same steps timed alternately in two checkouts of the project, so
that both see the same machine (issue 23: cold `make check` of prod and local, one gated synthesis
of prod). Each step runs in a fresh process, as `bench/run.py` runs it; medians of the runs.

    .venv/bin/python bench/compare.py BEFORE_DIR [AFTER_DIR] [--runs 3] [--output bench/compare.json]

BEFORE_DIR is a checkout of the commit to compare with (`git worktree add` or `git archive | tar x`)
with its toolchain installed (`make setup gate-tools` there).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SYNTH = """
import sys, tempfile
from pathlib import Path
from infra.config import load_config
from blog_infra.synthesis import synth
with tempfile.TemporaryDirectory() as out:
    synth(load_config(sys.argv[1]), Path(out) / "assembly", gates=True)
"""
STEPS = {
    "cold make check (prod + local)": lambda d: ["make", "--no-print-directory", "check"],
    "one gated synthesis of prod": lambda d: [str(d / ".venv" / "bin" / "python"), "-c", SYNTH, "prod"],
    "floor: node -e 0 + import aws_cdk": None,
}


CPU: dict[str, dict[str, list[float]]] = {}
"""Step -> checkout -> CPU seconds (user + sys of the step's processes, `getrusage(RUSAGE_CHILDREN)`):
steadier than wall time on a machine others use too."""


def run(argv: list[str], cwd: Path, *, cpu: list[float] | None = None) -> float:
    env = {
        **os.environ,
        "BLOG_INFRA_NO_CACHE": "1",
        "PATH": f"{cwd / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
        "PYTHONPATH": str(cwd),
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2))
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed in {cwd}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return round(elapsed, 2)


def floor(cwd: Path) -> float:
    node = run([str(cwd / "node_modules" / ".bin" / "node"), "-e", "0"], cwd)
    return round(node + run([str(cwd / ".venv" / "bin" / "python"), "-c", "import aws_cdk"], cwd), 2)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path, nargs="?", default=REPO)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "compare.json")
    args = parser.parse_args()
    checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
    commits = {
        name: subprocess.run(
            ["git", "log", "-1", "--format=%h"], cwd=path, capture_output=True, text=True, check=False
        ).stdout.strip()
        or "(no git)"
        for name, path in checkouts.items()
    }
    times: dict[str, dict[str, list[float]]] = {step: {"before": [], "after": []} for step in STEPS}
    loads = []
    for index in range(args.runs):
        for step, argv in STEPS.items():
            order = ("before", "after") if index % 2 == 0 else ("after", "before")
            for name in order:
                path = checkouts[name]
                cpu = CPU.setdefault(step, {}).setdefault(name, [])
                seconds = floor(path) if argv is None else run(argv(path), path, cpu=cpu)
                times[step][name].append(seconds)
                used = f", CPU {cpu[-1]:.2f} s" if cpu else ""
                print(f"run {index + 1}: {step}, {name}: {seconds:.2f} s{used}", flush=True)
        loads.append(os.getloadavg()[0])
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python bench/compare.py " + " ".join(sys.argv[1:]),
        "checkouts": {name: {"path": str(p), "commit": commits[name]} for name, p in checkouts.items()},
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1min_after_each_round": [round(x, 2) for x in loads],
        },
        "runs": args.runs,
        "note": "interleaved (before/after alternate first), BLOG_INFRA_NO_CACHE=1, medians in seconds",
        "steps": {
            step: {
                name: {
                    "median_s": statistics.median(values),
                    "runs_s": values,
                    "cpu_median_s": statistics.median(CPU[step][name]) if CPU[step].get(name) else None,
                    "cpu_runs_s": CPU[step].get(name, []),
                }
                for name, values in by_name.items()
            }
            for step, by_name in times.items()
        },
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for step, by_name in result["steps"].items():
        print(
            f"{step}: before {by_name['before']['median_s']} s (CPU {by_name['before']['cpu_median_s']} s), "
            f"after {by_name['after']['median_s']} s (CPU {by_name['after']['cpu_median_s']} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
