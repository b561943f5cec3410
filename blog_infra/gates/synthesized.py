"""Synthesis with the gates on: cdk-nag as a validation plugin inside it (its report kept when it
finds something), then the Control Tower controls on the template it wrote (`guard.py`)."""

from __future__ import annotations

import io
import json
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aws_cdk import App, Stack

from blog_infra.errors import BadInput, CliError
from blog_infra.gates import GateResult
from blog_infra.synthesis import Assembly
from infra.config import EnvConfig
from infra.gates import (
    AcknowledgementError,
    AppliedAcknowledgements,
    add_guard_plugin,
    plan_acknowledgements,
)

VALIDATION_REPORT = "validation-report.json"
_VALIDATION_FAILED = "ValidationFailed"


@dataclass(frozen=True)
class GatedAssembly:
    """A cloud assembly synthesized with the gates on, and what the validation plugins reported."""

    assembly: Assembly
    acknowledgements: AppliedAcknowledgements
    report: dict[str, Any]
    """The plugins' `validation-report.json` (empty when no plugin ran)."""
    passed: bool
    """No gate of the synthesis (the plugins, the Control Tower controls) reported a finding that is
    not acknowledged."""
    resource_count: int
    guard: GateResult | None = None
    """The Control Tower controls on the template (None when they ran as a plugin instead)."""


class _Sink(io.TextIOBase):
    """Stands in for sys.stderr while the jsii kernel prints the plugins' console report."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.last_write = time.monotonic()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.buffer.write(text.encode("utf-8", "replace"))
            self.last_write = time.monotonic()
        return len(text)


@contextmanager
def quiet_kernel_stderr(settle: float = 0.15, limit: float = 2.0) -> Iterator[_Sink]:
    """Capture what the CDK prints on stderr (its validation report) instead of showing it.

    The jsii kernel's stderr arrives on a thread, possibly after the call returned: wait until it
    has been quiet for `settle` seconds (at most `limit`) before restoring stderr.
    """
    sink = _Sink()
    original = sys.stderr
    sys.stderr = sink
    try:
        yield sink
    finally:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and time.monotonic() - sink.last_write < settle:
            time.sleep(settle / 3)
        sys.stderr = original


def synth_with_gates(
    config: EnvConfig, outdir: Path, *, guard: bool = True, guard_plugin: bool = False
) -> GatedAssembly:
    """Synthesize `config`'s root stack into `outdir` with cdk-nag, then run the Control Tower
    controls on its template.

    Unlike a plain synthesis this does not stop at the first gate failure: the templates are written
    before the plugins run, so they, the plugins' report and the controls' findings are returned
    either way. Without `guard` the controls are left to the caller (`runner.gate_results` runs them
    beside the other template gates). `guard_plugin` also runs them inside the synthesis, as the
    validator's plugin, for a comparison of the two (`plugins.plugin_guard_result`).
    """
    from infra.app import build_app

    if outdir.exists():
        shutil.rmtree(outdir)
    try:
        app, stack = build_app(config, outdir=str(outdir), gates=True)
        if guard_plugin:
            add_guard_plugin(app)
        acknowledgements = plan_acknowledgements(stack, config.name)
    except AcknowledgementError as exc:
        raise BadInput(str(exc)) from None
    return synthesize(app, stack, acknowledgements, outdir, guard=guard)


def synthesize(
    app: App, stack: Stack, acknowledgements: AppliedAcknowledgements, outdir: Path, *, guard: bool = True
) -> GatedAssembly:
    """Synthesize `app` (built with its output in `outdir` and the gates enabled), keeping the
    validation report whether or not a plugin found something; then, with `guard` (unless the
    Control Tower controls ran as a plugin: `enable_gates(app, guard_plugin=True)`), run those
    controls on the template."""
    passed = True
    with quiet_kernel_stderr():
        try:
            app.synth()
        except RuntimeError as exc:
            if _VALIDATION_FAILED not in str(exc):
                raise
            passed = False
    report_path = outdir / VALIDATION_REPORT
    report: dict[str, Any] = (
        json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    )
    assembly = Assembly(directory=outdir, stack_name=stack.stack_name)
    resource_count = len(assembly.template().get("Resources", {}))
    guard_result = None
    if guard:
        from blog_infra.gates.guard import cfn_guard_result

        guard_result = cfn_guard_result(outdir, assembly.stack_name, acknowledgements)
        passed = passed and not guard_result.failing
    return GatedAssembly(
        assembly=assembly,
        acknowledgements=acknowledgements,
        report=report,
        passed=passed,
        resource_count=resource_count,
        guard=guard_result,
    )


def with_guard(gated: GatedAssembly) -> GatedAssembly:
    """`gated` with the Control Tower controls run on its template, if they have not run there yet
    (whether or not they also ran as a plugin)."""
    from blog_infra.gates.guard import cfn_guard_result

    if gated.guard is not None:
        return gated
    result = cfn_guard_result(gated.assembly.directory, gated.assembly.stack_name, gated.acknowledgements)
    return replace(gated, guard=result, passed=gated.passed and not result.failing)


def refuse_failing(gated: GatedAssembly, shown: int = 3) -> GatedAssembly:
    """`gated` when every finding of the synthesis's gates is acknowledged; else a one-line error."""
    if gated.passed:
        return gated
    from blog_infra.gates.plugins import plugin_results

    nag, guard, others = plugin_results(gated)
    failing = nag.failing + guard.failing + others
    listed = "; ".join(f"{f.gate} {f.rule} on {f.resource}" for f in failing[:shown])
    more = f" and {len(failing) - shown} more" if len(failing) > shown else ""
    env = gated.acknowledgements.env
    raise CliError(
        f"{len(failing)} gate finding{'s' if len(failing) != 1 else ''} not acknowledged in {env}: "
        f"{listed}{more}; see 'blog-infra check --env {env}', then fix them or acknowledge them in "
        "infra/acknowledgements.toml"
    )
