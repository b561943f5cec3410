"""Inside a new mount namespace, as root: lay out the container's filesystem, then become it.

Run by `container.start` as `unshare --mount --propagation private -- python -m
blog_infra.sandbox.launch PLAN`. The plan (a root-only JSON file, removed once read) names the
tmpfs mounts, the files and directories to bind read-only, whether to remount `/` read-only, and
the command, its environment and the `setpriv` prefix that drops to the container's user. Mounts
made here are invisible outside the namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _mount(*arguments: str) -> None:
    subprocess.run(["mount", *arguments], check=True)


def _overlay(directory: str, layer: str) -> None:
    """Overlay `directory` with a writable layer kept in `layer` (on a tmpfs): writes stay there."""
    os.makedirs(f"{layer}/upper")
    os.makedirs(f"{layer}/work")
    options = f"lowerdir={directory},upperdir={layer}/upper,workdir={layer}/work"
    _mount("-t", "overlay", "overlay", "-o", options, directory)


def _mount_point(target: str, scratch: str, overlays: list[str]) -> None:
    """Make the directory `target` exist in this namespace only, as a container's image would have
    it, when the root is read-only: its nearest existing parent is overlaid with a layer on the tmpfs
    at `scratch`, the directory made there; the parent is made read-only again once all is bound."""
    parent = os.path.dirname(target)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent == "/":
        sys.exit(f"sandbox: no parent of {target} but / to make it in")
    _overlay(parent, os.path.join(scratch, "points", str(len(overlays))))
    overlays.append(parent)
    os.makedirs(target)


_NOT_LAYERED = {"proc", "sys", "dev", "run"}


def _writable_layer(scratch: str) -> None:
    """A container's writable layer: every top-level directory of this machine overlaid with a layer
    on the tmpfs at `scratch`, so that what the container writes stays in this namespace and this
    machine's files stay as they are. The directory holding `scratch` goes last (once it is
    overlaid, paths into it lead to the overlay). A failed overlay ends the launch: never write
    through to this machine."""
    tops = [
        name
        for name in sorted(os.listdir("/"))
        if name not in _NOT_LAYERED and os.path.isdir(f"/{name}") and not os.path.islink(f"/{name}")
    ]
    holder = scratch.strip("/").split("/")[0]
    for name in [top for top in tops if top != holder] + [top for top in tops if top == holder]:
        _overlay(f"/{name}", os.path.join(scratch, "root", name))


def main(plan_path: str) -> None:
    with open(plan_path, encoding="utf-8") as handle:
        plan = json.load(handle)
    os.unlink(plan_path)
    scratch = plan["scratch"]
    os.makedirs(scratch, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={plan['layer_mib']}m,mode=0700", "tmpfs", scratch)
    writable = not plan["read_only_root"]
    if writable:
        _writable_layer(scratch)
    for home in ("/root", "/home"):
        # The image's homes, not this machine's (whose shell start-up files the entry point would read).
        _mount("-t", "tmpfs", "-o", "size=16m,mode=0755" + ("" if writable else ",ro"), "tmpfs", home)
    overlays: list[str] = []
    for target, source in plan.get("directories", {}).items():
        if not os.path.isdir(target):
            if writable:
                os.makedirs(target)
            else:
                _mount_point(target, scratch, overlays)
        _mount("--bind", source, target)
        _mount("-o", "remount,bind,ro", target)
    for parent in overlays:
        _mount("-o", "remount,ro", parent)
    for target, source in plan["binds"].items():
        if not os.path.exists(target):
            sys.exit(f"sandbox: {target} does not exist on this machine to bind {source} onto")
        _mount("--bind", source, target)
        _mount("-o", "remount,bind,ro", target)
    if plan["read_only_root"]:
        _mount("-o", "remount,bind,ro", "/")
    for tmpfs in plan["tmpfs"]:
        options = ",".join([f"size={tmpfs['size_mib']}m", "mode=1777", *tmpfs["options"]])
        _mount("-t", "tmpfs", "-o", options, "tmpfs", tmpfs["path"])
    os.chdir(plan["cwd"])
    argv = [*plan["setpriv"], *plan["argv"]]
    os.execvpe(argv[0], argv, plan["environment"])


if __name__ == "__main__":
    main(sys.argv[1])
