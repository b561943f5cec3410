"""All five gates on one or more environments, and the acknowledgements that no finding needs."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blog_infra import assembly_cache, paths
from blog_infra.errors import CliError
from blog_infra.exit_codes import ExitCode
from blog_infra.gates import GATE_ORDER, Finding, GateResult
from blog_infra.gates.checkov_gate import CHECKOV_BIN, checkov_result
from blog_infra.gates.iam_policies import iam_result
from blog_infra.gates.lint import cfn_lint_result
from blog_infra.gates.plugins import plugin_results
from blog_infra.gates.synthesized import GatedAssembly, synth_with_gates, with_guard
from blog_infra.synthesis import move_into_place
from infra.config import EnvConfig, available_envs
from infra.gates import Acknowledgement, AcknowledgementError

REPORTS_DIR = paths.REPO_ROOT / "reports"
STALE = "acknowledgements"
"""Gate label of an acknowledgement that no longer matches any finding."""


@dataclass
class EnvironmentReport:
    """The gates' results on one environment."""

    env: str
    gated: GatedAssembly | None
    """The assembly and the plugins' report; None when the results came from the assembly cache."""
    results: list[GateResult]
    other_failing: list[Finding] = field(default_factory=list)
    """Failing findings of validation plugins other than the five gates."""
    cached: bool = False
    """The results are those of an earlier run on the same inputs (`assembly_cache`)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "results": [r.to_json() for r in self.results],
            "other_failing": [f.to_json() for f in self.other_failing],
        }

    @property
    def failing(self) -> list[Finding]:
        return [f for r in self.results for f in r.failing] + self.other_failing

    @property
    def used_acknowledgements(self) -> set[int]:
        return set().union(*(r.used_acknowledgements for r in self.results))


def run_gates(
    config: EnvConfig,
    *,
    outdir: Path | None = None,
    checkov_bin: Path = CHECKOV_BIN,
    guard_plugin: bool = False,
) -> EnvironmentReport:
    """Synthesize `config`'s stack with cdk-nag on, then run the Control Tower controls, cfn-lint,
    checkov and the IAM reference gate on it. `guard_plugin` also runs the controls inside the
    synthesis, as the validator's plugin (the report's `gated` then holds both results)."""
    outdir = outdir or paths.cdk_out(config.name)
    gated = synth_with_gates(config, outdir, guard=False, guard_plugin=guard_plugin)
    return gate_results(gated, region=config.region, checkov_bin=checkov_bin)


def check_environments(
    configs: Sequence[EnvConfig], *, checkov_bin: Path = CHECKOV_BIN
) -> list[EnvironmentReport]:
    """Every gate on each environment, its assembly in `cdk.out/<env>`.

    An environment whose every input is unchanged since a run whose in-synthesis gates passed gets
    that run's results and assembly from the cache (`--no-cache` skips it); results are stored only
    for such a run, since a gated cache entry promises that to every other command. Environments are
    synthesized one after another (one CDK kernel per process), and the template-based gates of one
    run while the next is synthesized: they read files and plain values only, never the jsii kernel,
    which serves one caller at a time (`AppliedAcknowledgements.stack_name`/`stack_path`).

    When two or more environments need a synthesis and the machine has as many cores, each of those
    is checked in a process of its own instead (a jsii kernel each), all at once."""
    fresh = [config for config in configs if not _results_cached(config)]
    if len(fresh) < 2 or (os.cpu_count() or 1) < 2:
        return _check_here(configs, checkov_bin)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(len(fresh), os.cpu_count() or 1), mp_context=context) as pool:
        alone = {config.name: pool.submit(_check_alone, config, checkov_bin) for config in fresh}
        here = {r.env: r for r in _check_here([c for c in configs if c.name not in alone], checkov_bin)}
        for name, future in alone.items():
            here[name] = _report_from_child(name, future.result())
    return [here[config.name] for config in configs]


def _check_here(configs: Sequence[EnvConfig], checkov_bin: Path) -> list[EnvironmentReport]:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gates") as pool:
        pending = [_start(config, pool, checkov_bin) for config in configs]
        return [future.result() for future in pending]


def _results_cached(config: EnvConfig) -> bool:
    key = assembly_cache.input_key(config.name, config.model_dump_json())
    entry = assembly_cache.lookup(config.name, key, [assembly_cache.Kind.GATED])
    return entry is not None and entry.gate_results() is not None


def _check_alone(config: EnvConfig, checkov_bin: Path) -> dict[str, Any]:
    """`check` of one environment in a process of its own; what it found, as plain data (errors as
    their one-line message, re-raised by the caller)."""
    try:
        report = _check_here([config], checkov_bin)[0]
    except AcknowledgementError as exc:
        return {"acknowledgement_error": str(exc)}
    except CliError as exc:
        return {"error": str(exc), "code": int(exc.code)}
    return {"report": report.to_json(), "cached": report.cached}


def _report_from_child(env: str, outcome: dict[str, Any]) -> EnvironmentReport:
    if "acknowledgement_error" in outcome:
        raise AcknowledgementError(outcome["acknowledgement_error"])
    if "error" in outcome:
        raise CliError(outcome["error"], ExitCode(outcome["code"]))
    report = _report_from_json(env, outcome["report"], cached=bool(outcome["cached"]))
    if report is None:
        raise CliError(f"check of {env} returned no results")
    return report


def _report_from_json(env: str, stored: dict[str, Any], *, cached: bool) -> EnvironmentReport | None:
    try:
        results = [GateResult.from_json(r) for r in stored["results"]]
        others = [Finding.from_json(f) for f in stored["other_failing"]]
    except (KeyError, TypeError, ValueError):
        return None
    if not results:
        return None
    return EnvironmentReport(env=env, gated=None, results=results, other_failing=others, cached=cached)


def check_environment(config: EnvConfig, *, checkov_bin: Path = CHECKOV_BIN) -> EnvironmentReport:
    """`check_environments` of one environment."""
    return check_environments([config], checkov_bin=checkov_bin)[0]


def _start(config: EnvConfig, pool: ThreadPoolExecutor, checkov_bin: Path) -> Future[EnvironmentReport]:
    """Synthesize into a directory of this run's own, so that another command writing or reading
    `cdk.out/<env>` meanwhile disturbs nothing; the assembly is moved there once its gates ran."""
    outdir = paths.cdk_out(config.name)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    key = assembly_cache.input_key(config.name, config.model_dump_json())
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}-check-", dir=outdir.parent))
    try:
        cached = _cached_report(config.name, key, staging / "assembly", outdir)
        if cached is not None:
            shutil.rmtree(staging, ignore_errors=True)
            done: Future[EnvironmentReport] = Future()
            done.set_result(cached)
            return done
        gated = synth_with_gates(config, staging / "assembly", guard=False)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return pool.submit(_finish, gated, key, config.region, checkov_bin, outdir)


def _cached_report(env: str, key: str, staging: Path, outdir: Path) -> EnvironmentReport | None:
    entry = assembly_cache.lookup(env, key, [assembly_cache.Kind.GATED])
    stored = entry.gate_results() if entry is not None else None
    if entry is None or stored is None:
        return None
    report = _report_from_json(env, stored, cached=True)
    if report is None or not assembly_cache.copy_out(entry, staging):
        return None
    move_into_place(staging, outdir)
    return report


def _finish(
    gated: GatedAssembly, key: str, region: str, checkov_bin: Path, outdir: Path
) -> EnvironmentReport:
    staged = gated.assembly.directory
    try:
        report = gate_results(gated, region=region, checkov_bin=checkov_bin)
        if report.gated is not None and report.gated.passed:
            entry = assembly_cache.store(
                report.env, key, assembly_cache.Kind.GATED, staged, gated.assembly.stack_name
            )
            if entry is not None:
                entry.attach_gate_results(report.to_json())
        move_into_place(staged, outdir)
    finally:
        shutil.rmtree(staged.parent, ignore_errors=True)
    return report


def gate_results(gated: GatedAssembly, *, region: str, checkov_bin: Path = CHECKOV_BIN) -> EnvironmentReport:
    """All five gates' results on an assembly synthesized with cdk-nag on (the Control Tower
    controls run here unless they already ran)."""
    # checkov and cfn-guard are processes of their own: they run while cfn-lint and the IAM gate run
    # here.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="template-gates") as pool:
        guard_run = pool.submit(with_guard, gated)
        checkov_run = pool.submit(
            checkov_result, gated.assembly.directory, gated.acknowledgements, binary=checkov_bin
        )
        lint = cfn_lint_result(gated.assembly.template(), gated.acknowledgements, region=region)
        iam = iam_result(gated.assembly.directory, gated.acknowledgements)
        gated = guard_run.result()
        nag, guard, others = plugin_results(gated)
        checkov = checkov_run.result()
    results = sorted([nag, guard, lint, checkov, iam], key=lambda r: GATE_ORDER.index(r.gate))
    return EnvironmentReport(
        env=gated.acknowledgements.env, gated=gated, results=results, other_failing=others
    )


def stale_acknowledgements(
    reports: Sequence[EnvironmentReport], acknowledgements: Sequence[Acknowledgement]
) -> list[Finding]:
    """Entries that no finding needed, in every environment they hold in.

    An entry is judged only when every environment it holds in was checked.
    """
    checked = {r.env for r in reports}
    used = set().union(*(r.used_acknowledgements for r in reports)) if reports else set()
    stale = []
    for ack in acknowledgements:
        holds_in = set(ack.envs or available_envs())
        if not holds_in <= checked or ack.number in used:
            continue
        stale.append(
            Finding(
                gate=STALE,
                rule=f"#{ack.number} {ack.gate} {ack.rule}",
                resource=", ".join(ack.resources),
                message="matches no finding in " + ", ".join(sorted(holds_in)) + "; remove or update it",
            )
        )
    return stale


def write_reports(report: EnvironmentReport, directory: Path = REPORTS_DIR) -> list[Path]:
    """`reports/<env>/<gate>.json` for every gate, for CI artifacts."""
    target = directory / report.env
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for result in report.results:
        path = target / f"{result.gate}.json"
        path.write_text(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    if report.other_failing:
        path = target / "other.json"
        path.write_text(
            json.dumps([f.to_json() for f in report.other_failing], indent=2, sort_keys=True) + "\n",
            encoding="utf-8",
        )
        written.append(path)
    return written


def summary_json(reports: Sequence[EnvironmentReport], stale: Sequence[Finding]) -> dict[str, Any]:
    rows = [
        {
            "env": report.env,
            "gate": result.gate,
            "evaluated": result.evaluated,
            "acknowledged": len(result.acknowledged),
            "failing": len(result.failing),
        }
        for report in reports
        for result in report.results
    ]
    failing = [f.to_json() | {"env": r.env} for r in reports for f in r.failing]
    failing += [f.to_json() | {"env": None} for f in stale]
    return {"passed": not failing, "gates": rows, "failing": failing}
