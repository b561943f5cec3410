"""Where the repository keeps its tools, its synthesized templates and its local state."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = REPO_ROOT / "node_modules" / ".bin"
CDK_BIN = NODE_BIN / "cdk"


def use_pinned_node() -> None:
    """Make this process's jsii runtime (in-process synthesis) use the pinned Node.js, not the system's."""
    current = os.environ.get("PATH", "")
    if not current.startswith(str(NODE_BIN)):
        os.environ["PATH"] = f"{NODE_BIN}{os.pathsep}{current}"
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")


def cdk_out(env: str) -> Path:
    """The cloud assembly of one environment."""
    return REPO_ROOT / "cdk.out" / env


def state_dir() -> Path:
    """Local state (the emulator's pid, port and log); `BLOG_INFRA_STATE_DIR` moves it."""
    configured = os.environ.get("BLOG_INFRA_STATE_DIR")
    return Path(configured) if configured else REPO_ROOT / ".state"


def emulator_state_dir() -> Path:
    return state_dir() / "emulator"
