"""Install the software the conformance layer runs, ahead of it: `make test` starts this beside the
pytest run of the other layers, which leaves a core mostly idle, so that the conformance layer finds
every runtime ready instead of installing each when its first test needs it (about 100 s on a fresh
machine, docs/performance.md).

    python -m tests.conformance.prefetch

It installs exactly what the layer's fixtures ask for, from their own constants: every modeled image
(`blog_infra.sandbox.images.IMAGES`: the Prefect base image, which the emulator's task-credential
tests also run, first, then our Prefect image), the example project's flow image and the stock
Backstage backend. Each install is the one the fixtures call (`runtime.ensure`, `ensure_package`),
under the runtime root's lock, so a test that needs one while it is being installed waits for it
rather than installing it twice. What fails here is only reported: the test that needs it installs it
again and fails with the installer's own message.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from blog_infra.sandbox import images, runtime
from blog_infra.sandbox.node import NodePackageError, ensure_package
from tests.conformance.backstage.conftest import BACKEND_SOURCE
from tests.conformance.pipelines.conftest import EXAMPLE, FLOW_IMAGE


def installs() -> list[tuple[str, Callable[[], object]]]:
    """What the conformance layer installs, in the order it is installed here."""
    steps: list[tuple[str, Callable[[], object]]] = [
        (f"image {reference}", lambda model=model: runtime.ensure(model))
        for reference, model in sorted(
            images.IMAGES.items(), key=lambda item: item[0] not in images.BASE_IMAGES
        )
    ]
    flows = images.from_requirements(FLOW_IMAGE, EXAMPLE / "requirements.txt")
    steps.append((f"image {FLOW_IMAGE} (examples/pipelines)", lambda: runtime.ensure(flows)))
    steps.append(("the stock Backstage backend", lambda: ensure_package(BACKEND_SOURCE)))
    return steps


def main() -> int:
    began = time.monotonic()
    failed = 0
    for what, install in installs():
        started = time.monotonic()
        try:
            install()
        except (runtime.InstallError, NodePackageError, OSError) as exc:
            failed += 1
            print(f"prefetch: {what}: failed: {exc}", flush=True)
            continue
        print(f"prefetch: {what}: ready after {time.monotonic() - started:.1f} s", flush=True)
    print(f"prefetch: done in {time.monotonic() - began:.1f} s, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
