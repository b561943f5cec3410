"""`make bench`: how long the engineer's loop takes on this machine, against the unavoidable floor.

Every measurement runs in a fresh process (so the Python and jsii start-up is counted, as a user pays
it), several times; the table shows the median and the spread, and `bench/results.json` keeps every
run. The deploy steps use a state directory of their own (`BLOG_INFRA_STATE_DIR`) and therefore an
emulator of their own: nothing anyone else runs is touched. Not part of `make test`.

    .venv/bin/python bench/run.py [--runs 3] [--cycles 2] [--skip-test] [--skip-check] [--skip-deploy]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
PYTHON = BIN / "python"
NODE_BIN = REPO / "node_modules" / ".bin"
RESULTS = REPO / "bench" / "results.json"
TAG_BUMP = REPO / "bench" / "deploy_tag.py"
NOOP_PROBE = REPO / "bench" / "noop_probe.py"
STEP_TIMEOUT_S = 1800

SYNTH = """
import sys, tempfile
from pathlib import Path
from infra.config import load_config
from blog_infra.synthesis import synth
with tempfile.TemporaryDirectory() as out:
    synth(load_config(sys.argv[1]), Path(out) / "assembly", gates=sys.argv[2] == "gates")
"""
STOP_EMULATOR = """
import sys
from pathlib import Path
from emulator import control
control.stop(Path(sys.argv[1]))
"""
MINIMAL_APP = """
import tempfile
import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
with tempfile.TemporaryDirectory() as out:
    app = cdk.App(outdir=out, analytics_reporting=False)
    s3.Bucket(cdk.Stack(app, "Floor"), "Bucket")
    app.synth()
"""


@dataclass
class Measure:
    name: str
    command: str
    what: str
    target_s: float | None = None
    runs_s: list[float] = field(default_factory=list)
    status: str = "ok"
    note: str = ""

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "command": self.command,
            "what": self.what,
            "status": self.status,
            "runs_s": [round(r, 3) for r in self.runs_s],
        }
        if self.runs_s:
            result |= {
                "median_s": round(statistics.median(self.runs_s), 3),
                "min_s": round(min(self.runs_s), 3),
                "max_s": round(max(self.runs_s), 3),
                "stdev_s": round(statistics.stdev(self.runs_s), 3) if len(self.runs_s) > 1 else 0.0,
            }
        if self.target_s is not None:
            result["target_s"] = self.target_s
            if self.runs_s:
                result["meets_target"] = statistics.median(self.runs_s) < self.target_s
        if self.note:
            result["note"] = self.note
        return result

    @property
    def median(self) -> float | None:
        return statistics.median(self.runs_s) if self.runs_s else None


class StepFailed(Exception):
    pass


def environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{NODE_BIN}{os.pathsep}{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
    env.setdefault("CDK_DISABLE_VERSION_CHECK", "1")
    env.update(extra)
    return env


def run(argv: Sequence[str], env: dict[str, str], *, accept: Sequence[int] = (0,)) -> float:
    """Run `argv` from the repository root; the wall-clock seconds it took."""
    started = time.perf_counter()
    done = subprocess.run(
        list(argv), cwd=REPO, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode not in accept:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        raise StepFailed(f"exit {done.returncode}: {' | '.join(tail)}")
    return elapsed


def repeat(measure: Measure, runs: int, argv: Sequence[str], env: dict[str, str], **kw: Any) -> Measure:
    for _ in range(runs):
        record(measure, lambda: run(argv, env, **kw))
    return measure


def record(measure: Measure, step: Any) -> None:
    if measure.status not in ("ok",):
        return
    try:
        measure.runs_s.append(step())
    except (StepFailed, subprocess.TimeoutExpired) as exc:
        measure.status = "failed"
        measure.note = str(exc)[:400]
    show(measure)


def warm_up(measure: Measure, argv: Sequence[str], env: dict[str, str]) -> None:
    """Run `argv` once, untimed, so that what `measure` times finds the cache filled."""
    try:
        run(argv, env)
    except (StepFailed, subprocess.TimeoutExpired) as exc:
        measure.status = "failed"
        measure.note = f"warm-up: {str(exc)[:380]}"


def show(measure: Measure) -> None:
    latest = f"{measure.runs_s[-1]:.2f} s" if measure.runs_s else measure.status
    print(f"  {measure.name}: {latest}", flush=True)


def make_target_exists(target: str) -> bool:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    return re.search(rf"^{re.escape(target)}:", makefile, flags=re.MULTILINE) is not None


@contextlib.contextmanager
def state_directory() -> Iterator[Path]:
    """A state directory (and so an emulator) of the benchmark's own, stopped and removed after."""
    path = Path(tempfile.mkdtemp(prefix="blog-infra-bench-"))
    try:
        yield path
    finally:
        subprocess.run(
            [str(PYTHON), "-c", STOP_EMULATOR, str(path / "emulator")],
            cwd=REPO,
            env=environment(),
            capture_output=True,
            check=False,
            timeout=120,
        )
        shutil.rmtree(path, ignore_errors=True)


def floors(runs: int, env: dict[str, str]) -> list[Measure]:
    print("Floor: starting node and importing aws_cdk", flush=True)
    node = Measure("floor: node -e 0", "node_modules/.bin/node -e 0", "start the pinned Node.js")
    repeat(node, runs, [str(NODE_BIN / "node"), "-e", "0"], env)
    cdk = Measure(
        "floor: import aws_cdk",
        ".venv/bin/python -c 'import aws_cdk'",
        "start Python and import the CDK (jsii loads its runtime)",
    )
    repeat(cdk, runs, [str(PYTHON), "-c", "import aws_cdk"], env)
    minimal = Measure(
        "floor: one-bucket app",
        ".venv/bin/python -c '<App, Stack, Bucket, synth>'",
        "the smallest CDK app synthesized: what any CDK Python synth pays",
    )
    repeat(minimal, runs, [str(PYTHON), "-c", MINIMAL_APP], env)
    return [node, cdk, minimal]


def synths(runs: int, env: dict[str, str], envs: list[str]) -> list[Measure]:
    print("Synthesis, each in a fresh process", flush=True)
    cold = env | {"BLOG_INFRA_NO_CACHE": "1"}
    result = []
    for name in envs:
        gated = Measure(
            f"synth {name} (gated, as blog-infra synth)",
            f"blog_infra.synthesis.synth(load_config({name!r})) into a temp dir",
            "what `make synth` and every deploy pay: build, CDK validation, cdk-nag, Control Tower controls",
            target_s=None,
        )
        repeat(gated, runs, [str(PYTHON), "-c", SYNTH, name, "gates"], cold)
        result.append(gated)
    plain = Measure(
        "synth prod (no gates)",
        "build_app + app.synth(), CDK's built-in validation on",
        "what the tests' session fixture pays per environment",
    )
    repeat(plain, runs, [str(PYTHON), "-c", SYNTH, "prod", "plain"], cold)
    bare = Measure(
        "synth prod (no gates, CDK_VALIDATION=false)",
        "build_app + app.synth(), no validation at all",
        "constructing the tree and writing the template: the part no gate adds",
    )
    repeat(bare, runs, [str(PYTHON), "-c", SYNTH, "prod", "plain"], cold | {"CDK_VALIDATION": "false"})
    unchanged = Measure(
        "synth prod, unchanged tree (blog-infra synth, cache hit)",
        ".venv/bin/blog-infra synth --env prod (after one that stored the assembly)",
        "hash the inputs, verify the cached assembly and copy it into cdk.out/prod",
        target_s=None,
    )
    synth_cli = [str(BIN / "blog-infra"), "synth", "--env", "prod"]
    warm_up(unchanged, synth_cli, env)
    repeat(unchanged, runs, synth_cli, env)
    return [*result, plain, bare, unchanged]


def cli_startup(runs: int, env: dict[str, str]) -> list[Measure]:
    print("CLI start-up", flush=True)
    helps = Measure(
        "blog-infra --help",
        ".venv/bin/blog-infra --help",
        "list the commands (imports none of them)",
        target_s=0.3,
    )
    repeat(helps, runs, [str(BIN / "blog-infra"), "--help"], env)
    with tempfile.TemporaryDirectory(prefix="blog-infra-bench-state-") as state:
        status = Measure(
            "blog-infra local status",
            ".venv/bin/blog-infra local status (no emulator)",
            "a read-only command that needs no synthesis",
            target_s=0.3,
        )
        repeat(
            status, runs, [str(BIN / "blog-infra"), "local", "status"], env | {"BLOG_INFRA_STATE_DIR": state}
        )
    return [helps, status]


def check(runs: int, env: dict[str, str]) -> list[Measure]:
    cold = Measure(
        "make check",
        "BLOG_INFRA_NO_CACHE=1 make check",
        "the five safety gates on prod and local, synthesized and run from scratch",
        target_s=30,
    )
    warm = Measure(
        "make check, unchanged tree",
        "make check (after one that stored its results)",
        "the five gates' results of an unchanged tree, from the assembly cache",
        target_s=5,
    )
    if not make_target_exists("check"):
        cold.status = warm.status = "not available"
        cold.note = warm.note = "the Makefile has no check target"
        return [cold, warm]
    print("make check", flush=True)
    repeat(cold, runs, ["make", "--no-print-directory", "check"], env | {"BLOG_INFRA_NO_CACHE": "1"})
    warm_up(warm, ["make", "--no-print-directory", "check"], env)
    return [cold, repeat(warm, max(runs, 3), ["make", "--no-print-directory", "check"], env)]


def gates(runs: int, env: dict[str, str], envs: list[str]) -> list[Measure]:
    """Each gate apart, by bench/gate_times.py (one process per run and environment)."""
    print("Each gate apart", flush=True)
    measures: dict[str, Measure] = {}
    for name in envs:
        for _ in range(runs):
            try:
                done = subprocess.run(
                    [str(BIN / "python"), str(REPO / "bench" / "gate_times.py"), name],
                    cwd=REPO,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=STEP_TIMEOUT_S,
                    check=True,
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                failed = Measure(f"gates {name}", "bench/gate_times.py", "each gate apart", status="failed")
                failed.note = str(exc)[:400]
                measures[failed.name] = failed
                continue
            for part, seconds in json.loads(done.stdout.strip().splitlines()[-1]).items():
                measure = measures.setdefault(
                    f"{name}: {part}",
                    Measure(
                        f"{name}: {part}",
                        f".venv/bin/python bench/gate_times.py {name}",
                        "one gate or synthesis variant, timed in a process whose jsii kernel is started",
                    ),
                )
                measure.runs_s.append(float(seconds))
                show(measure)
    return list(measures.values())


def deploys(runs: int, cycles: int, env: dict[str, str]) -> list[Measure]:
    up = Measure(
        "cold make up",
        "BLOG_INFRA_STATE_DIR=<new> make up",
        "start an emulator, bootstrap it, synthesize with the gates, deploy everything",
        target_s=90,
    )
    noop = Measure(
        "no-op redeploy",
        ".venv/bin/blog-infra local up (again)",
        "synthesize with the gates, plan against the deployed stack: no changes",
        target_s=4,
    )
    bump = Measure(
        "image-tag bump deploy",
        ".venv/bin/python bench/deploy_tag.py <tag>",
        "local with a new Backstage image tag: synthesize, plan, deploy the task definition and service",
    )
    probe = Measure(
        "no-op check without gates (proposed)",
        "CDK_VALIDATION=false .venv/bin/python bench/noop_probe.py",
        "synthesize without gates or CDK validation and plan: what a no-op redeploy would cost if it "
        "only ran the gates when something changed",
    )
    bump_plan = Measure(
        "image-tag bump plan",
        ".venv/bin/python bench/deploy_tag.py <tag> --plan",
        "plan a new Backstage image tag against the deployed stack; the note says what it plans",
    )
    down = Measure("make down", "make down", "destroy the local stack and stop the emulator")
    for cycle in range(cycles):
        print(f"Deploy cycle {cycle + 1}/{cycles} (own emulator)", flush=True)
        with state_directory() as state:
            local = environment(BLOG_INFRA_STATE_DIR=str(state))
            before = len(up.runs_s)
            record(up, lambda local=local: run(["make", "--no-print-directory", "up"], local))
            if len(up.runs_s) == before:
                break
            if cycle == 0:
                for _ in range(runs):
                    record(noop, lambda local=local: run([str(BIN / "blog-infra"), "local", "up"], local))
                for _ in range(runs):
                    record(
                        probe,
                        lambda state=state: run(
                            [str(PYTHON), str(NOOP_PROBE)],
                            environment(BLOG_INFRA_STATE_DIR=str(state), CDK_VALIDATION="false"),
                        ),
                    )
                record(bump_plan, lambda local=local: plan_of_bump(bump_plan, local))
                for n in range(runs):
                    tag = f"bench-{int(time.time())}-{n}"
                    record(bump, lambda local=local, tag=tag: run([str(PYTHON), str(TAG_BUMP), tag], local))
            record(down, lambda local=local: run(["make", "--no-print-directory", "down"], local))
    return [up, noop, probe, bump_plan, bump, down]


def plan_of_bump(measure: Measure, env: dict[str, str]) -> float:
    """Time the plan of an image-tag bump and keep what it planned in the measure's note."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(PYTHON), str(TAG_BUMP), f"bench-plan-{int(time.time())}", "--plan"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise StepFailed(f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    planned = json.loads(done.stdout.strip().splitlines()[-1])
    measure.note = f"{planned['changes']} changes ({planned['counts']}), {planned['dangerous']} dangerous"
    return elapsed


def tests(runs: int, env: dict[str, str]) -> list[Measure]:
    print("The tests (long)", flush=True)
    fast = Measure(
        "make test-fast",
        "make test-fast",
        "the tests that deploy nothing, run no image's software and are not marked slow",
        target_s=60,
    )
    repeat(fast, runs, ["make", "--no-print-directory", "test-fast"], env)
    pytest = Measure(
        "make test's pytest, without conformance",
        ".venv/bin/pytest -n 2 -m 'not conformance' (as make test runs it)",
        "every test but the conformance runs of the images' software (those are timed next)",
        target_s=300,
    )
    parallel = ["-n", "2"]
    repeat(
        pytest,
        runs,
        [str(BIN / "pytest"), "-q", *parallel, "-m", "not conformance", "-p", "no:cacheprovider"],
        env,
    )
    conformance = Measure(
        "make test's pytest, conformance only",
        ".venv/bin/pytest -m conformance",
        "the real Prefect and portal backend run with the synthesized configuration",
    )
    repeat(conformance, runs, [str(BIN / "pytest"), "-q", "-m", "conformance", "-p", "no:cacheprovider"], env)
    return [fast, pytest, conformance]


def machine() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=False
    )
    node = subprocess.run([str(NODE_BIN / "node"), "--version"], capture_output=True, text=True, check=False)
    return {
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "node": node.stdout.strip(),
        "commit": commit.stdout.strip(),
        "uncommitted_changes": bool(dirty.stdout.strip()),
    }


def table(measures: list[Measure], floor_s: float | None) -> str:
    rows = [("measurement", "runs", "median s", "min s", "max s", "stdev s", "target", "vs floor")]
    for m in measures:
        s = m.summary()
        if not m.runs_s:
            rows.append((m.name, "0", m.status, "", "", "", "", ""))
            continue
        target = ""
        if m.target_s is not None:
            target = f"< {m.target_s:g} s {'ok' if s['meets_target'] else 'MISSED'}"
        ratio = f"{s['median_s'] / floor_s:.1f}x" if floor_s and m.name.startswith("synth") else ""
        rows.append(
            (
                m.name + ("" if m.status == "ok" else f" ({m.status})"),
                str(len(m.runs_s)),
                f"{s['median_s']:.2f}",
                f"{s['min_s']:.2f}",
                f"{s['max_s']:.2f}",
                f"{s['stdev_s']:.2f}",
                target,
                ratio,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="runs of each fast step (floors, synths, redeploys)"
    )
    parser.add_argument("--cycles", type=int, default=2, help="cold make up / make down cycles")
    parser.add_argument("--check-runs", type=int, default=1, help="runs of make check")
    parser.add_argument("--test-runs", type=int, default=1, help="runs of make test")
    parser.add_argument("--skip-test", action="store_true", help="do not run make test (it is long)")
    parser.add_argument("--skip-check", action="store_true", help="do not run make check")
    parser.add_argument("--skip-deploy", action="store_true", help="no emulator deploys")
    parser.add_argument("--skip-synth", action="store_true", help="no synthesis timings")
    parser.add_argument("--envs", default="prod,local", help="environments to synthesize (comma-separated)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the results")
    args = parser.parse_args(argv)

    env = environment()
    started = datetime.now(UTC)
    print("make setup (not timed: the toolchain must be installed before anything is measured)", flush=True)
    subprocess.run(["make", "--no-print-directory", "setup"], cwd=REPO, env=env, check=True)
    before = machine()
    clock = time.perf_counter()

    measures = floors(args.runs, env) + cli_startup(args.runs, env)
    if not args.skip_synth:
        measures += synths(args.runs, env, [e for e in args.envs.split(",") if e])
    if args.skip_check:
        measures.append(Measure("make check", "make check", "skipped", target_s=30, status="skipped"))
    else:
        measures += check(args.check_runs, env)
        measures += gates(args.check_runs, env, [e for e in args.envs.split(",") if e])
    if args.skip_deploy:
        measures.append(Measure("cold make up", "make up", "skipped", target_s=90, status="skipped"))
    else:
        measures += deploys(args.runs, args.cycles, env)
    if args.skip_test:
        measures.append(Measure("make test", "make test", "skipped (--skip-test)", status="skipped"))
    else:
        measures += tests(args.test_runs, env)

    by_name = {m.name: m for m in measures}
    node, cdk = by_name["floor: node -e 0"].median, by_name["floor: import aws_cdk"].median
    floor_s = (node or 0.0) + (cdk or 0.0) if node is not None and cdk is not None else None
    prod = by_name.get("synth prod (gated, as blog-infra synth)")
    ratios: dict[str, Any] = {"floor_s": round(floor_s, 3) if floor_s else None}
    if floor_s:
        for m in measures:
            if m.name.startswith("synth") and m.median is not None:
                ratios[m.name] = round(m.median / floor_s, 1)
        minimal = by_name["floor: one-bucket app"].median
        if minimal and prod and prod.median:
            ratios["synth prod (gated) over one-bucket app"] = round(prod.median / minimal, 1)
    unchanged = by_name.get("synth prod, unchanged tree (blog-infra synth, cache hit)")
    targets = {
        "synth prod of an unchanged tree <= 3x floor": None
        if not (floor_s and unchanged and unchanged.median)
        else {
            "median_s": round(unchanged.median, 2),
            "limit_s": round(3 * floor_s, 2),
            "met": unchanged.median <= 3 * floor_s,
        },
        "synth prod <= 3x floor": None
        if not (floor_s and prod and prod.median)
        else {
            "median_s": round(prod.median, 2),
            "limit_s": round(3 * floor_s, 2),
            "met": prod.median <= 3 * floor_s,
        },
        **{
            f"{m.name} < {m.target_s:g} s": None
            if m.median is None
            else {"median_s": round(m.median, 2), "limit_s": m.target_s, "met": m.median < m.target_s}
            for m in measures
            if m.target_s is not None
        },
    }
    results = {
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - clock, 1),
        "command": "make bench  (.venv/bin/python bench/run.py " + " ".join(argv or sys.argv[1:]) + ")",
        "machine": before | {"load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "floor": "node -e 0 + import aws_cdk, medians",
        "ratios_to_floor": ratios,
        "targets": targets,
        "measurements": {m.name: m.summary() for m in measures},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print()
    print(table(measures, floor_s))
    print()
    if floor_s:
        print(f"Floor (node start + import aws_cdk): {floor_s:.2f} s; 3x floor = {3 * floor_s:.2f} s.")
    print(f"Load average {before['load_average']} on {before['cpus']} CPUs; results in {args.output}")
    return 0 if all(m.status in ("ok", "skipped", "not available") for m in measures) else 1


if __name__ == "__main__":
    sys.exit(main())
