"""A cache of synthesized cloud assemblies, keyed by a hash of every input of the synthesis.

Synthesizing an environment costs seconds (the CDK in a Node.js process, then cdk-nag and the Control
Tower controls), and `synth`, `check`, `diff` and `deploy` each need the same assembly. An entry is
stored under `cdk.out/.cache/<env>/<key>-<kind>` and is used only when:

- its key equals the hash of the inputs now (`input_key`): the code and data under `infra/` (the
  environment's own config file and the profiles, not other environments'), the gate code, the lock
  files, the Python version and the versions of the synthesis libraries installed, and the
  environment variables the CDK and jsii read;
- every file it holds still has the SHA-256 its manifest recorded; the manifest is written last and
  the entry is moved into place with one rename, so a half-written entry is never seen, and a
  damaged one is removed and rebuilt.

Commands never use an entry in place: they copy it into a directory of their own (the CDK CLI writes
lock files into the assembly it deploys), so concurrent commands cannot disturb each other, and an
entry removed while being copied is a miss. `--no-cache` (or `BLOG_INFRA_NO_CACHE=1`) leaves the cache
alone: nothing is looked up and nothing stored (a synthesis under a patched app, as some tests do,
must never stand for the real one).

`kind` tells how the assembly was made: `gated` (cdk-nag ran inside the synthesis, its validation
report is in the entry, and the Control Tower controls passed on its template) or `plain` (planning
only). The template is the same, so a plan may use either; anything deployed or checked uses
`gated`. The results of the template-based gates
(cfn-lint, checkov, ...) can be attached to a gated entry (`gates.json`, written atomically, checked
against the entry's key), so `check` on an unchanged tree runs nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

from blog_infra import paths

FORMAT = 1
"""Bumped when the layout of an entry changes: older entries then never match."""
MANIFEST = "blog-infra-cache.json"
GATES = "gates.json"
KEEP_PER_ENV = 4
NO_CACHE_VARIABLE = "BLOG_INFRA_NO_CACHE"
CACHE_DIR_VARIABLE = "BLOG_INFRA_CACHE_DIR"

INPUT_FILES = (
    "requirements.txt",
    "requirements-checkov.txt",
    "package-lock.json",
    "pyproject.toml",
    "cdk.json",
    "cdk.context.json",
    "blog_infra/synthesis.py",
)
"""Files outside `infra/` that change what a synthesis or a gate produces."""
INPUT_TREES = ("infra", "blog_infra/gates")
"""Directories whose every file is an input (environment folders other than the one synthesized
excepted)."""
DISTRIBUTIONS = (
    "aws-cdk-lib",
    "constructs",
    "jsii",
    "cdk-nag",
    "cdklabs.cdk-validator-cfnguard",
    "cfn-lint",
    "pydantic",
    "policy-sentry",
)
"""Installed packages whose version changes the assembly or the gates' results, whatever the lock
file says (a virtualenv may lag behind it)."""
_IGNORED_VARIABLES = frozenset({"CDK_DISABLE_VERSION_CHECK", "CDK_DISABLE_CLI_TELEMETRY"})
"""CDK_/JSII_ variables that only silence messages of the CLI."""


class Kind(StrEnum):
    GATED = "gated"
    PLAIN = "plain"


@dataclass(frozen=True)
class Entry:
    """A verified cache entry."""

    directory: Path
    key: str
    kind: Kind
    stack_name: str
    created: float
    meta: dict[str, Any]
    """What the synthesis reported besides the assembly (e.g. the in-synthesis gates' results)."""
    files: dict[str, str]
    """Each file of the assembly and its SHA-256, as the manifest recorded them."""

    def gate_results(self) -> dict[str, Any] | None:
        """The template-based gates' results attached to this entry, or None."""
        try:
            data = json.loads((self.directory / GATES).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != self.key:
            return None
        results = data.get("results")
        return results if isinstance(results, dict) else None

    def attach_gate_results(self, results: dict[str, Any]) -> None:
        """Store the template-based gates' results with the entry (atomically; last writer wins)."""
        payload = json.dumps({"key": self.key, "results": results}, sort_keys=True)
        # The entry may have been replaced or evicted by another command meanwhile: the results are
        # then simply not kept (the cache is an optimisation, never a reason to fail).
        with contextlib.suppress(OSError):
            _write_atomically(self.directory / GATES, payload)


def enabled() -> bool:
    return os.environ.get(NO_CACHE_VARIABLE, "") not in {"1", "true", "yes"}


def disable() -> None:
    """Leave the cache alone for the rest of this process and its children (`--no-cache`)."""
    os.environ[NO_CACHE_VARIABLE] = "1"


def root() -> Path:
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    return Path(configured) if configured else paths.REPO_ROOT / "cdk.out" / ".cache"


def _files_under(directory: Path, env: str) -> Iterator[Path]:
    envs = paths.REPO_ROOT / "infra" / "envs"
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in {".pyc", ".pyo"}:
            continue
        if path.is_relative_to(envs):
            folder = path.relative_to(envs).parts[0]
            if folder != env and not folder.startswith("_"):
                continue
        yield path


def _versions() -> dict[str, str]:
    found = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def input_key(env: str, settings: str = "") -> str:
    """The hash of every input of `env`'s synthesis and gates; `settings` is the configuration the
    synthesis is given, serialized (it may not be the one in the repository: a test's, a restore's
    edited copy), so the key follows the configuration actually used, not only the files."""
    digest = hashlib.sha256(f"blog-infra assembly cache {FORMAT}\n".encode())

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("env", env.encode())
    add("settings", settings.encode())
    files: list[Path] = []
    for tree in INPUT_TREES:
        files.extend(_files_under(paths.REPO_ROOT / tree, env))
    files.extend(paths.REPO_ROOT / name for name in INPUT_FILES)
    for path in files:
        label = path.relative_to(paths.REPO_ROOT).as_posix()
        try:
            add(label, path.read_bytes())
        except FileNotFoundError:
            add(label, b"\0absent")
    add("python", sys.version.encode())
    add("versions", json.dumps(_versions(), sort_keys=True).encode())
    variables = {
        name: value
        for name, value in os.environ.items()
        if name.startswith(("CDK_", "JSII_")) and name not in _IGNORED_VARIABLES
    }
    add("environment", json.dumps(variables, sort_keys=True).encode())
    return digest.hexdigest()


def _entry_dir(env: str, key: str, kind: Kind) -> Path:
    return root() / env / f"{key}-{kind.value}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _listing(directory: Path) -> dict[str, str]:
    return {
        path.relative_to(directory).as_posix(): _sha256(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name not in {MANIFEST, GATES}
    }


def lookup(env: str, key: str, kinds: Iterable[Kind]) -> Entry | None:
    """The first verified entry of `env` for `key` among `kinds`; a damaged entry is removed."""
    if not enabled():
        return None
    for kind in kinds:
        directory = _entry_dir(env, key, kind)
        entry = _verified(directory, key, kind)
        if entry is not None:
            return entry
        if directory.exists():
            _remove(directory)
    return None


def _verified(directory: Path, key: str, kind: Kind) -> Entry | None:
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT or manifest.get("key") != key or manifest.get("kind") != kind:
            return None
        if _listing(directory) != manifest["files"]:
            return None
        return Entry(
            directory=directory,
            key=key,
            kind=kind,
            stack_name=str(manifest["stack_name"]),
            created=float(manifest["created"]),
            meta=dict(manifest.get("meta") or {}),
            files=dict(manifest["files"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(
    env: str, key: str, kind: Kind, assembly_dir: Path, stack_name: str, meta: dict[str, Any] | None = None
) -> Entry | None:
    """Copy the assembly at `assembly_dir` into the cache; None when it could not be stored (the
    cache is an optimisation: a full disk or a race never fails the command), or when the cache is
    disabled."""
    if not enabled():
        return None
    target = _entry_dir(env, key, kind)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        content = staging / "entry"
        shutil.copytree(assembly_dir, content, ignore=shutil.ignore_patterns("*.lock", MANIFEST, GATES))
        manifest = {
            "format": FORMAT,
            "key": key,
            "kind": kind.value,
            "stack_name": stack_name,
            "created": time.time(),
            "meta": meta or {},
            "files": _listing(content),
        }
        _write_atomically(content / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
        if target.exists():
            _remove(target)
        # Another process may have stored the same entry meanwhile: theirs is as good.
        with contextlib.suppress(OSError):
            content.rename(target)
    except OSError:
        return None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _evict(target.parent)
    return _verified(target, key, kind)


def copy_out(entry: Entry, destination: Path) -> bool:
    """Copy a verified entry into `destination` (which must not exist); False if the entry vanished
    or changed meanwhile (the caller then synthesizes)."""
    try:
        shutil.copytree(entry.directory, destination, ignore=shutil.ignore_patterns(MANIFEST, GATES))
    except OSError:
        shutil.rmtree(destination, ignore_errors=True)
        return False
    # Checked against the manifest read when the entry was verified, never against the entry again:
    # whatever happened to it meanwhile, the copy is whole or it is not used.
    try:
        whole = _listing(destination) == entry.files
    except OSError:
        whole = False
    if not whole:
        shutil.rmtree(destination, ignore_errors=True)
    return whole


def _evict(env_dir: Path) -> None:
    """Keep the newest KEEP_PER_ENV entries. Another process may remove or replace an entry between
    the listing and its stat: that entry is simply not counted."""
    dated: list[tuple[float, Path]] = []
    with contextlib.suppress(OSError):
        for path in env_dir.iterdir():
            if path.name.startswith("."):
                continue
            with contextlib.suppress(OSError):
                status = path.stat()
                if path.is_dir():
                    dated.append((status.st_mtime, path))
    dated.sort(key=lambda item: item[0], reverse=True)
    for _, stale in dated[KEEP_PER_ENV:]:
        _remove(stale)


def _remove(directory: Path) -> None:
    """Remove an entry: first renamed aside, so no reader sees it half-deleted under its name."""
    aside = directory.with_name(f".removing-{directory.name}-{os.getpid()}-{time.monotonic_ns()}")
    try:
        directory.rename(aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def _write_atomically(path: Path, text: str) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
