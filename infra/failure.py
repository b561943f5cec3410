"""Where a synthesis failed, in one line, whether our code or CDK (through jsii) raised.

A configuration that passes `infra.config` should always synthesize; when something still fails, the
user gets the construct path where one is known, the file and line of our code that made the failing
call (and the CDK function it called), and the exception's message, instead of a traceback.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
VALIDATION_REPORT = "validation-report.json"
"""What CDK writes into the assembly when its template rules or a validation plugin fail."""
SHOWN_MESSAGE = 400


def describe_failure(exc: BaseException, outdir: Path | None = None) -> str:
    """`at <where>: <message>` for `exc`, raised while building or synthesizing the app whose
    assembly goes to `outdir` (where CDK's validation report, if any, explains a `ValidationFailed`)."""
    text = " ".join(str(exc).split())
    report = outdir / VALIDATION_REPORT if outdir else None
    if text.startswith("ValidationFailed") and report is not None and report.is_file():
        found = _first_violation(report)
        if found:
            return found
    frames = list(zip(_frames(exc), traceback.extract_tb(exc.__traceback__), strict=True))
    ours = [index for index, (_, summary) in enumerate(frames) if _is_ours(summary.filename)]
    parts = []
    construct = next((p for i in reversed(ours) if (p := _construct_path(frames[i][0].f_locals))), None)
    if construct:
        parts.append(construct)
    if ours:
        summary = frames[ours[-1]][1]
        parts.append(f"{Path(summary.filename).resolve().relative_to(REPO_ROOT)}:{summary.lineno}")
        cdk = next(((f, s) for f, s in frames[ours[-1] + 1 :] if "aws_cdk" in Path(s.filename).parts), None)
        if cdk is not None:
            parts.append(f"calling {_cdk_function(*cdk)}")
    if not text.startswith(type(exc).__name__):
        text = f"{type(exc).__name__}: {text}"
    return f"at {' '.join(parts) or 'an unknown place'}: {_shortened(text)}"


def _frames(exc: BaseException) -> list[FrameType]:
    return [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]


def _first_violation(report: Path) -> str | None:
    """The first error of CDK's validation report, and how many findings there are in all."""
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    violations = [
        (plugin.get("pluginName", "validation"), violation)
        for plugin in data.get("pluginReports", [])
        if plugin.get("conclusion") == "failure"
        for violation in plugin.get("violations", [])
    ]
    if not violations:
        return None
    plugin, first = violations[0]
    path = (first.get("violatingConstructs") or [{}])[0].get("constructPath", "the template")
    count = sum(len(v.get("violatingConstructs") or [{}]) for _, v in violations)
    more = f" ({count - 1} more finding{'s' if count != 2 else ''})" if count > 1 else ""
    message = " ".join(f"{plugin} {first.get('ruleName', '')}: {first.get('description', '')}".split())
    return f"at {path}: {_shortened(message)}{more}"


def _construct_path(local_variables: dict[str, Any]) -> str | None:
    from constructs import Construct

    for name in ("self", "scope"):
        candidate = local_variables.get(name)
        if isinstance(candidate, Construct):
            try:
                return str(candidate.node.path)
            except Exception:  # the jsii kernel may be unusable after some failures
                return None
    return None


def _is_ours(filename: str) -> bool:
    path = Path(filename).resolve()
    return path.is_relative_to(REPO_ROOT) and not path.is_relative_to(REPO_ROOT / ".venv")


def _cdk_function(frame: FrameType, summary: traceback.FrameSummary) -> str:
    """`aws_cdk.aws_ec2.Vpc.__init__`: the CDK function our code called."""
    parts = list(Path(summary.filename).with_suffix("").parts)
    module = ".".join(part for part in parts[parts.index("aws_cdk") :] if part != "__init__")
    owner = frame.f_locals.get("self", frame.f_locals.get("cls"))
    owner_name = (owner if isinstance(owner, type) else type(owner)).__name__ if owner is not None else None
    return ".".join(part for part in (module, owner_name, summary.name) if part)


def _shortened(text: str) -> str:
    return text if len(text) <= SHOWN_MESSAGE else f"{text[: SHOWN_MESSAGE - 3]}..."
