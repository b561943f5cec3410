"""The software of an image, installed on this machine from PyPI at the image's versions.

An image's Python packages go into a virtual environment of their own under `RUNTIME_ROOT`
(outside the repository, root-owned and readable by every user, as the image's /usr/local is), built
once per model and reused: `ready` marks a complete install, so a half-finished one is rebuilt.

Stand-ins, said where they matter: the environment runs on this machine's Python (3.11, Debian's),
not the image's 3.12; `/usr/bin/tini` is Debian's tini 0.19, as in the image.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from blog_infra.sandbox.images import ENTRYPOINT_PATH, ImageModel

RUNTIME_ROOT = Path(os.environ.get("BLOG_INFRA_RUNTIME_ROOT") or "/opt/blog-infra/sandbox")
"""Where images' software is installed once and reused; `BLOG_INFRA_RUNTIME_ROOT` moves it (the
fresh-machine rehearsal, `make test-fresh`, points it at an empty directory). Not under /tmp: a
task's tmpfs is mounted there."""
BASE_PYTHON = Path("/usr/bin/python3.11")
INSTALLER_PACKAGES = ("uv==0.12.5",)
"""What the image's entry point calls: uv, at the version the Dockerfile copies in."""


class InstallError(Exception):
    """The image's software could not be installed; the message says what failed."""


@dataclass(frozen=True)
class Runtime:
    model: ImageModel
    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def entry_point_script(self) -> Path:
        return self.root / "entrypoint.sh"

    @property
    def site_packages(self) -> Path:
        found = sorted((self.root / "lib").glob("python3*/site-packages"))
        return found[0]

    def path_variable(self, image_path: str) -> str:
        """The image's PATH, with this runtime's bin first (where the image has /usr/local/bin)."""
        return f"{self.bin}:{image_path}"

    def argv(self, entry_point: tuple[str, ...], command: tuple[str, ...]) -> list[str]:
        """`entry_point` + `command`, with the image's entry-point script mapped to this runtime's copy."""
        mapped = [str(self.entry_point_script) if part == ENTRYPOINT_PATH else part for part in entry_point]
        return [*mapped, *command]


def _key(model: ImageModel) -> str:
    material = json.dumps(
        {
            "packages": model.packages,
            "tools": INSTALLER_PACKAGES,
            "script": model.script,
            "python": str(BASE_PYTHON),
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def ensure(model: ImageModel, *, root: Path = RUNTIME_ROOT) -> Runtime:
    """The runtime of `model`, installing it first if no complete one exists (a minute or two)."""
    if not BASE_PYTHON.exists():
        raise InstallError(f"{BASE_PYTHON} is missing; apt-get install python3.11-venv")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", model.reference)
    target = root / f"{name}-{_key(model)}"
    runtime = Runtime(model=model, root=target)
    ready = target / "ready"
    root.mkdir(parents=True, exist_ok=True)
    for directory in (root, root.parent):
        directory.chmod(0o755)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return runtime
        shutil.rmtree(target, ignore_errors=True)
        _run([str(BASE_PYTHON), "-m", "venv", str(target)], "create the virtual environment")
        _run(
            [
                str(target / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *model.packages,
                *INSTALLER_PACKAGES,
            ],
            f"install {' '.join(model.packages)}",
        )
        runtime.entry_point_script.write_text(model.script)
        runtime.entry_point_script.chmod(0o755)
        ready.write_text(model.reference + "\n")
    return runtime


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise InstallError(f"could not {what}: {' | '.join(tail)}")
