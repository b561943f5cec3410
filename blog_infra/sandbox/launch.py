"""Inside a new mount namespace, as root: lay out the container's filesystem, then become it.

Run by `container.start` as `unshare --mount --propagation private -- python -m
blog_infra.sandbox.launch PLAN`. The plan (a root-only JSON file, removed once read) names the
tmpfs mounts, the files to bind read-only, whether to remount `/` read-only, and the command, its
environment and the `setpriv` prefix that drops to the container's user. Mounts made here are
invisible outside the namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _mount(*arguments: str) -> None:
    subprocess.run(["mount", *arguments], check=True)


def main(plan_path: str) -> None:
    with open(plan_path, encoding="utf-8") as handle:
        plan = json.load(handle)
    os.unlink(plan_path)
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
