"""Running the real CDK CLI (pinned in package.json) and turning its event stream into progress."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from blog_infra import paths
from blog_infra.errors import CliError
from blog_infra.target import Target

EMULATOR_WATCH_INTERVAL_S = 0.5
"""How often a CDK CLI run against the emulator checks that the emulator's process is still there."""

_EVENT = re.compile(
    r"\|\s*(?P<done>\d+)/(?P<total>\d+)\s*\|[^|]*\|\s*(?P<status>[A-Z_]+)\s*\|\s*(?P<type>\S+)\s*\|\s*(?P<rest>.*)$"
)
_LOGICAL = re.compile(r"^(?P<path>.*?)\s*\((?P<logical>[A-Za-z0-9]+)\)\s*(?P<reason>.*)$")


@dataclass(frozen=True)
class Event:
    done: int
    total: int
    status: str
    resource_type: str
    resource: str
    reason: str

    @property
    def failed(self) -> bool:
        return self.status.endswith("_FAILED")


def parse_event(line: str) -> Event | None:
    """One stack event from a line of `cdk deploy --progress events` output, or None."""
    match = _EVENT.search(line)
    if not match:
        return None
    rest = match["rest"].strip()
    logical = _LOGICAL.match(rest)
    if logical:
        resource, reason = logical["logical"], logical["reason"].strip()
    else:
        resource, _, reason = rest.partition(" ")
    return Event(
        done=int(match["done"]),
        total=int(match["total"]),
        status=match["status"],
        resource_type=match["type"],
        resource=resource,
        reason=reason,
    )


@dataclass
class CdkRun:
    returncode: int
    lines: list[str] = field(default_factory=list)
    failures: list[Event] = field(default_factory=list)

    def error_summary(self) -> str:
        if self.failures:
            first = self.failures[0]
            reason = first.reason or "no reason given"
            return f"{first.resource} ({first.resource_type}) {first.status}: {reason}"
        tail = [line for line in self.lines if line.strip()][-3:]
        return " / ".join(line.strip() for line in tail) or f"the CDK CLI exited with {self.returncode}"


def cdk_environment(target: Target) -> dict[str, str]:
    env = dict(os.environ)
    if target.endpoint:
        env = {key: value for key, value in env.items() if not key.startswith("AWS_")}
    env["PATH"] = f"{paths.NODE_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        {
            "CDK_DISABLE_VERSION_CHECK": "1",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
            "FORCE_COLOR": "0",
        }
    )
    env.update(target.env)
    return env


def run_cdk(
    args: list[str],
    target: Target,
    on_event: Callable[[Event], None] | None = None,
) -> CdkRun:
    """Run `cdk <args>` against `target`, reporting parsed events as they come.

    The CLI runs in a scratch directory of this run's own, never in the repository. There it finds
    no cdk.json, so it neither runs the app nor locks cdk.out (every command names its assembly with
    `--app`). And the context lookups it makes for an assembly (the availability-zone lookup behind
    the VPC's check of its zones) are saved to a cdk.context.json of its own. In the repository's
    root, two deploys at once (two terminals, two test workers) each rewrote the same file while the
    other read it: "cdk.context.json: Unexpected end of JSON input". Nothing reads those saved values:
    the assembly is synthesized before the CLI runs."""
    if not paths.CDK_BIN.exists():
        raise CliError("the CDK CLI is not installed: run 'make setup' (npm ci) first")
    with tempfile.TemporaryDirectory(prefix="blog-infra-cdk-") as scratch:
        return _run_in(scratch, args, target, on_event)


def _run_in(cwd: str, args: list[str], target: Target, on_event: Callable[[Event], None] | None) -> CdkRun:
    process = subprocess.Popen(
        [str(paths.CDK_BIN), *args],
        cwd=cwd,
        env=cdk_environment(target),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    run = CdkRun(returncode=0)
    stop_watching = threading.Event()
    if target.endpoint:
        threading.Thread(
            target=_stop_when_emulator_exits, args=(process, target, stop_watching), daemon=True
        ).start()
    assert process.stdout is not None
    try:
        _read_events(process, run, on_event)
    finally:
        stop_watching.set()
    run.returncode = process.wait()
    return run


def _read_events(
    process: subprocess.Popen[str], run: CdkRun, on_event: Callable[[Event], None] | None
) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.rstrip("\n")
        run.lines.append(line)
        event = parse_event(line)
        if event is None:
            continue
        if event.failed and event.reason and "cancelled" not in event.reason.lower():
            run.failures.append(event)
        if on_event:
            on_event(event)


def _stop_when_emulator_exits(process: subprocess.Popen[str], target: Target, done: threading.Event) -> None:
    """The CDK CLI retries a refused connection for about 40 s before it gives up: when the emulator's
    process has gone, stop the CLI at once (the caller then reports the emulator stopped)."""
    while not done.wait(EMULATOR_WATCH_INTERVAL_S):
        if process.poll() is not None:
            return
        if target.emulator_exited():
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            return
