"""The Control Tower proactive controls (cfn-guard) on a synthesized template, outside the synthesis.

The rules, the cfn-guard binary and the code that reads guard's output are those of the pinned
`cdklabs.cdk-validator-cfnguard` (requirements.txt): its jsii tarball
(`cdklabs/cdk_validator_cfnguard/_jsii/cdk-validator-cfnguard@<version>.jsii.tgz`) ships
`rules/control-tower/cfn-guard/**.guard`, `bin/<ubuntu|macos>/<x86_64|aarch64>/cfn-guard`
(`guard-version.json`: cfn-guard 3.1.1 for 0.0.62) and `lib/plugin.js`. The tarball is unpacked
once under `.tools/cdk-validator-cfnguard/<its sha256>`, and `guard_validate.js` runs the
plugin's own `validate` there with the pinned Node.js.

What it does not do any more is run inside the synthesis, over every rule file, on the whole
template. In the plugin, `cfn-guard validate --rules <dir>` evaluates each of the 237 rule files
against the whole template, and each evaluation copies the template's values (cfn-guard 3.1.1,
`guard/src/commands/reporters/validate/structured.rs`: `each.path_value.clone()` per rule file, and
`query_retrieval_with_converter` per `Resources.*[ Type == ... ]` query): about 50 ms per rule file on
prod's template, 13 s in all. Here:

- only the rule files that can apply run: those naming (in a quoted `AWS::Service::Resource` literal)
  at least one resource type the template holds. Every Control Tower rule file selects resources by
  such literals and skips when there are none (`tests/gates/test_guard.py` checks both on every
  shipped file), so the others could only have skipped: about half of them on prod;
- each rule file sees only the resources it can select, and those they reference (`template_for`):
  the rule files are grouped by the types they name, and each group is one cfn-guard run on a
  template holding those resources, every other section unchanged. A rule looks at another resource
  only through a `Ref` or `Fn::GetAtt` (its `query_for_resource`), which the template keeps. All the
  groups run in one Node.js process.

The result depends on the template's bytes, the validator and this code only, so it is cached by their hash
(under the assembly cache's directory; `--no-cache` skips it). Acknowledgements are applied here,
from the same file entries the plugin's were (`AppliedAcknowledgements.entry_for`), and each
finding is shaped as `plugins.py` shapes the plugin's: the same rule id (`CT.S3.PR.2`), construct
path and message.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from blog_infra import assembly_cache, paths
from blog_infra.errors import CliError
from blog_infra.gates import Finding, GateResult, dedupe
from infra.gates import AppliedAcknowledgements, Gate, guard_control_of, guard_rule_names

FORMAT = 2
"""Bumped when what a cached result holds changes."""
_SOURCE = Path(__file__).read_bytes()
"""This module's code, part of a cached result's key: it decides which rules see which resources."""
SCRIPT = Path(__file__).with_name("guard_validate.js")
RULES_DIR = "rules/control-tower/cfn-guard"
TOOLS_DIR = paths.REPO_ROOT / ".tools" / "cdk-validator-cfnguard"
CACHE_SUBDIR = "cfn-guard"
KEEP_CACHED = 64
TIMEOUT_SECONDS = 600
_TYPE_LITERAL = re.compile(r"""['"](AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)['"]""")
_UNPACKED = (
    "package/package.json",
    "package/guard-version.json",
    "package/lib/",
    "package/bin/",
    f"package/{RULES_DIR}/",
)


@dataclass(frozen=True)
class RuleFile:
    path: Path
    types: frozenset[str]
    """The resource types the file names: the only ones its rules select."""


@cache
def validator_tarball() -> Path:
    """The pinned validator's jsii tarball, as installed with the Python package."""
    package = resources.files("cdklabs.cdk_validator_cfnguard._jsii")
    found = next(p for p in package.iterdir() if p.name.endswith(".jsii.tgz"))
    return Path(str(found))


@cache
def _tarball_digest() -> str:
    return hashlib.sha256(validator_tarball().read_bytes()).hexdigest()


@cache
def validator_package() -> Path:
    """The validator's package directory (plugin code, rules, cfn-guard binaries), unpacked once."""
    target = TOOLS_DIR / _tarball_digest()[:16]
    package = target / "package"
    if (package / "package.json").is_file():
        return package
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=TOOLS_DIR))
    try:
        with tarfile.open(validator_tarball(), "r:gz") as archive:
            members = [m for m in archive.getmembers() if m.name.startswith(_UNPACKED)]
            archive.extractall(staging, members=members, filter="data")
        try:
            staging.rename(target)
        except OSError:
            if not (package / "package.json").is_file():  # not another process's copy: a real error
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return package


def guard_binary() -> Path:
    """The cfn-guard binary the validator runs on this machine (lib/plugin.js `getPlatform`,
    `getArchitecture`: linux is `ubuntu`, x64 is `x86_64`, arm64 is `aarch64`)."""
    system = {"Linux": "ubuntu", "Darwin": "macos"}.get(platform.system(), platform.system())
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine())
    return validator_package() / "bin" / system / machine / "cfn-guard"


@cache
def rule_files() -> tuple[RuleFile, ...]:
    """Every Control Tower rule file the validator ships, with the resource types it names."""
    root = validator_package() / RULES_DIR
    return tuple(
        RuleFile(path=path, types=frozenset(_TYPE_LITERAL.findall(path.read_text(encoding="utf-8"))))
        for path in sorted(root.rglob("*.guard"))
    )


def applicable_rule_files(template: dict[str, Any]) -> tuple[RuleFile, ...]:
    """The rule files that name a resource type the template holds: the only ones that can report."""
    resources_ = template.get("Resources") or {}
    present = {r.get("Type") for r in resources_.values() if isinstance(r, dict)}
    return tuple(f for f in rule_files() if f.types & present)


def _key(template_bytes: bytes) -> str:
    digest = hashlib.sha256()
    parts = (str(FORMAT).encode(), _tarball_digest().encode(), SCRIPT.read_bytes(), _SOURCE, template_bytes)
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _cached(key: str) -> list[dict[str, Any]] | None:
    if not assembly_cache.enabled():
        return None
    try:
        path = assembly_cache.root() / CACHE_SUBDIR / f"{key}.json"
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != key:
        return None
    if not isinstance(stored.get("violations"), list):
        return None
    return list(stored["violations"])


def _store(key: str, violations: list[dict[str, Any]]) -> None:
    if not assembly_cache.enabled():
        return
    directory = assembly_cache.root() / CACHE_SUBDIR
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{key}.", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"key": key, "violations": violations}, handle)
        os.replace(temporary, directory / f"{key}.json")
        stored = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in stored[KEEP_CACHED:]:
            old.unlink(missing_ok=True)
    except OSError:
        return


def _node() -> str:
    pinned = paths.NODE_BIN / "node"
    return str(pinned) if pinned.exists() else "node"


@dataclass(frozen=True)
class GuardJob:
    """One cfn-guard run: rule files and the template they are evaluated on."""

    template: Path
    rules: tuple[Path, ...]


def run_validator(jobs: Sequence[GuardJob], *, name: str) -> list[dict[str, Any]]:
    """The validator's violations for every job, in job order: one Node.js process, one cfn-guard
    process per job. `name` is the template the jobs were made from, for the error message."""
    if not jobs:
        return []
    with tempfile.TemporaryDirectory(prefix="blog-infra-guard-") as scratch:
        jobs_file = Path(scratch) / "jobs.json"
        listed = [{"template": str(j.template), "rules": [str(r) for r in j.rules]} for j in jobs]
        jobs_file.write_text(json.dumps(listed), encoding="utf-8")
        command = [_node(), str(SCRIPT), str(validator_package()), str(jobs_file)]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CliError(f"cfn-guard did not run on {name}: {exc}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("Error")]
        detail = (errors or lines or [""])[-1]
        raise CliError(f"cfn-guard failed on {name} (exit {done.returncode}): {detail}")
    reports = json.loads(done.stdout)
    return [violation for report in reports for violation in report.get("violations", [])]


def _referenced(value: Any, found: set[str]) -> set[str]:
    """The logical ids `value` names in a `Ref` or an `Fn::GetAtt`: the only references a Control
    Tower rule follows (its `query_for_resource` looks up `Resources[ keys == <Ref> ]`, or the first
    element of a `Fn::GetAtt`, and checks that resource's `Type`)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) and inner else inner
                if isinstance(target, str):
                    found.add(target.split(".", 1)[0])
            _referenced(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _referenced(inner, found)
    return found


def template_for(template: dict[str, Any], types: frozenset[str]) -> dict[str, Any]:
    """The template as rule files naming `types` see it: its resources of those types and the resources
    they reference, every other section as it is. A rule selects resources only by those types
    (`rule_files`) and looks at another resource only through a reference, so on this template it
    decides as on the whole; cfn-guard's cost grows with the template it copies for every rule file."""
    resources_ = template.get("Resources") or {}
    chosen = {k for k, r in resources_.items() if isinstance(r, dict) and r.get("Type") in types}
    referenced = set().union(*(_referenced(resources_[k], set()) for k in chosen)) if chosen else set()
    kept = chosen | (referenced & resources_.keys())
    return {**template, "Resources": {k: r for k, r in resources_.items() if k in kept}}


def guard_violations(template_path: Path) -> list[dict[str, Any]]:
    """The Control Tower controls' violations on a template, as the validator plugin reports them.

    The applicable rule files are grouped by the resource types they name, and each group runs on
    `template_for` those types: on prod, 56 cfn-guard runs on small templates instead of one that
    copies the whole template 112 times (docs/performance.md)."""
    data = template_path.read_bytes()
    key = _key(data)
    cached = _cached(key)
    if cached is not None:
        return cached
    template = json.loads(data)
    groups: dict[frozenset[str], list[Path]] = {}
    for rule in applicable_rule_files(template):
        groups.setdefault(rule.types, []).append(rule.path)
    with tempfile.TemporaryDirectory(prefix="blog-infra-guard-") as scratch:
        jobs = []
        for index, (types, rules) in enumerate(groups.items()):
            part = Path(scratch) / f"{index}.template.json"
            part.write_text(json.dumps(template_for(template, types)), encoding="utf-8")
            jobs.append(GuardJob(template=part, rules=tuple(rules)))
        violations = run_validator(jobs, name=template_path.name)
    for violation in violations:
        for violating in violation.get("violatingResources", []):
            violating["templatePath"] = str(template_path)
    _store(key, violations)
    return violations


def construct_paths(assembly_dir: Path, stack_name: str) -> dict[str, str]:
    """Logical id -> construct path (`blog-prod/Data/Cached/Resource`) of a stack's resources, from
    the cloud assembly's `aws:cdk:logicalId` metadata: the construct the CDK names in a validation
    report (aws-cdk-lib `core/lib/validation/private/construct-tree.js`: the CfnResource whose
    resolved logical id it is)."""
    manifest = json.loads((assembly_dir / "manifest.json").read_text(encoding="utf-8"))
    artifact = manifest.get("artifacts", {}).get(stack_name, {})
    metadata: dict[str, Any] = artifact.get("metadata") or {}
    extra = artifact.get("additionalMetadataFile")
    if extra:
        metadata = {**metadata, **json.loads((assembly_dir / extra).read_text(encoding="utf-8"))}
    found: dict[str, str] = {}
    for path, entries in metadata.items():
        for entry in entries:
            if entry.get("type") == "aws:cdk:logicalId" and isinstance(entry.get("data"), str):
                found[entry["data"]] = path.lstrip("/")
    return found


def finding_message(description: str) -> str:
    """The one-line message of a Control Tower violation: its description without the `[CT.X.PR.N]:`."""
    message = description.split("\n")[0]
    if message.startswith("["):
        message = message.partition("]:")[2].strip() or message
    return message


def cfn_guard_result(
    assembly_dir: Path, stack_name: str, acknowledgements: AppliedAcknowledgements
) -> GateResult:
    """The Control Tower controls on a stack's synthesized template, acknowledgements applied."""
    result = GateResult(
        gate=Gate.CFN_GUARD.value, env=acknowledgements.env, evaluated=f"{len(guard_rule_names())} controls"
    )
    violations = guard_violations(assembly_dir / f"{stack_name}.template.json")
    if not violations:
        return result
    by_logical_id = construct_paths(assembly_dir, stack_name)
    prefix = f"{acknowledgements.stack_path}/"
    for violation in violations:
        rule_name = str(violation.get("ruleName", "?"))
        message = finding_message(str(violation.get("description", "")))
        for violating in violation.get("violatingResources", []):
            logical_id = str(violating.get("resourceLogicalId") or "")
            path = by_logical_id.get(logical_id)
            relative = path.removeprefix(prefix) if path else None
            entry = acknowledgements.entry_for(
                Gate.CFN_GUARD, rule_name, path=relative, logical_id=logical_id or None
            )
            finding = Finding(
                gate=result.gate,
                rule=guard_control_of(rule_name),
                resource=relative or logical_id or "(template)",
                message=message,
                acknowledgement=entry.number if entry is not None else None,
            )
            (result.failing if entry is None else result.acknowledged).append(finding)
    result.acknowledged = dedupe(result.acknowledged)
    result.failing = dedupe(result.failing)
    return result
