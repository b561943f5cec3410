"""checkov on the cloud assembly, offline, from its own tool environment (`make gate-tools`).

checkov pins packaging<24, which the project's test tools cannot live with, so it is installed into
`.tools/checkov` and run as a program. Acknowledgements are `checkov: skip` metadata on the
resources, which checkov reports as skipped checks with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from blog_infra import paths
from blog_infra.gates import Finding, GateResult, dedupe, outside_the_file
from infra.gates import AppliedAcknowledgements, Gate

CHECKOV_BIN = paths.REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"
TIMEOUT_SECONDS = 600


class CheckovMissing(Exception):
    """The checkov tool environment is not installed."""


def _run(directory: Path, binary: Path) -> dict[str, Any]:
    if not binary.exists():
        raise CheckovMissing(f"checkov is not installed at {binary}; run 'make gate-tools'")
    environment = {
        **os.environ,
        "BC_SKIP_MAPPING": "TRUE",
        "CHECKOV_NO_OUTPUT_PROGRESS": "1",
        "LOG_LEVEL": "ERROR",
    }
    command = [
        str(binary),
        "--directory",
        str(directory),
        "--framework",
        "cloudformation",
        "--skip-download",
        "--compact",
        "--output",
        "json",
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, env=environment, timeout=TIMEOUT_SECONDS, check=False
    )
    if run.returncode not in (0, 1):
        detail = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"checkov exited with {run.returncode}: {detail}")
    document = json.loads(run.stdout or "{}")
    reports = document if isinstance(document, list) else [document]
    merged: dict[str, Any] = {"passed_checks": [], "failed_checks": [], "skipped_checks": []}
    for report in reports:
        if report.get("check_type") not in (None, "cloudformation"):
            continue
        for key in merged:
            merged[key].extend(report.get("results", {}).get(key, []))
    return merged


def _logical_id(check: dict[str, Any]) -> str:
    return str(check.get("resource", "")).rpartition(".")[2]


def checkov_result(
    directory: Path, acknowledgements: AppliedAcknowledgements, *, binary: Path = CHECKOV_BIN
) -> GateResult:
    """Run checkov on the assembly in `directory`."""
    result = GateResult(gate=Gate.CHECKOV.value, env=acknowledgements.env, evaluated="")
    try:
        results = _run(directory, binary)
    except (CheckovMissing, RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        result.evaluated = "not run"
        result.failing.append(Finding(gate=result.gate, rule="checkov", resource="-", message=str(exc)))
        return result
    for check in results["failed_checks"]:
        result.failing.append(
            Finding(
                gate=result.gate,
                rule=str(check["check_id"]),
                resource=_logical_id(check),
                message=str(check.get("check_name", "")),
            )
        )
    for check in results["skipped_checks"]:
        logical_id = _logical_id(check)
        entry = acknowledgements.entry_for(Gate.CHECKOV, str(check["check_id"]), logical_id=logical_id)
        finding = Finding(
            gate=result.gate,
            rule=str(check["check_id"]),
            resource=logical_id,
            message=str(check.get("check_name", "")),
            acknowledgement=entry.number if entry is not None else None,
        )
        if entry is None:
            result.failing.append(outside_the_file(finding))
        else:
            result.acknowledged.append(finding)
    total = sum(len(v) for v in results.values())
    result.evaluated = f"{total} checks"
    result.acknowledged = dedupe(result.acknowledged)
    result.failing = dedupe(result.failing)
    return result
