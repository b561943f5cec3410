"""What each container image the platform runs contains, and what its entry point does.

One model per upstream base image, and one per image of ours, derived from its Dockerfile
(`images/<name>/`, read through `infra.images`, the same source the task definitions take their tag
from): the base's model plus what the Dockerfile installs. The sandbox installs `packages` from PyPI
(into a runtime of its own, see `runtime`) and starts `entry_point` + the task's command with
`environment` under the task's environment, as the image would. A task definition names one of ours
by its tag in our ECR repository; a Dockerfile whose base has no model fails.

Sources (PrefectHQ/prefect):
- `Dockerfile`: the final stage installs `prefect[redis,client,otel]` with uv into the system Python
  (`UV_SYSTEM_PYTHON=1`), has no `USER` line, `WORKDIR /opt/prefect`, and
  `ENTRYPOINT ["/usr/bin/tini", "-g", "--", "/opt/prefect/entrypoint.sh"]`; the base image is
  `python:<version>-slim` (no curl or wget).
- `scripts/entrypoint.sh`: sources `~/.bashrc` if present; when `EXTRA_PIP_PACKAGES` is set, runs
  `uv pip install --system $EXTRA_PIP_PACKAGES` and exits with uv's code on failure; then
  `exec "$@"`.
Which upstream tags were published, and the evidence: `infra/images.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from infra.images import BUILT_IMAGES, BuiltImage

ENTRYPOINT_SCRIPT = """#!/usr/bin/env bash
# The official Prefect image's entry point (PrefectHQ/prefect scripts/entrypoint.sh), as it behaves.
set -e
if [ -f ~/.bashrc ]; then
  . ~/.bashrc
fi
if [ ! -z "$EXTRA_PIP_PACKAGES" ]; then
  echo "+uv pip install $EXTRA_PIP_PACKAGES"
  uv pip install --system $EXTRA_PIP_PACKAGES > /tmp/pip_install.log 2>&1 || {
    uv_exit_code=$?
    cat /tmp/pip_install.log
    exit $uv_exit_code
  }
fi
exec "$@"
"""

_SLIM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENTRYPOINT_PATH = "/opt/prefect/entrypoint.sh"


@dataclass(frozen=True)
class ImageModel:
    """What a container of `reference` has and does before the task's command runs."""

    reference: str
    python: str
    """Python minor version of the image (the sandbox may run another; see `runtime`)."""
    packages: tuple[str, ...]
    """The pinned distributions the image holds that the platform relies on, as pip requirements."""
    entry_point: tuple[str, ...]
    environment: Mapping[str, str]
    """The image's ENV, beneath the task's environment."""
    user: str | None
    """The image's USER; None: root."""
    working_directory: str
    script: str
    """The text of the entry-point script (`ENTRYPOINT_PATH`)."""

    def version_of(self, distribution: str) -> str | None:
        for requirement in self.packages:
            name, _, version = requirement.partition("==")
            if re.sub(r"\[.*\]", "", name) == distribution:
                return version
        return None


def _prefect_image(reference: str, *, python: str, packages: tuple[str, ...]) -> ImageModel:
    return ImageModel(
        reference=reference,
        python=python,
        packages=packages,
        entry_point=("/usr/bin/tini", "-g", "--", ENTRYPOINT_PATH),
        environment={
            "PATH": _SLIM_PATH,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "UV_LINK_MODE": "copy",
            "UV_SYSTEM_PYTHON": "1",
            "LD_LIBRARY_PATH": "/usr/local/lib",
        },
        user=None,
        working_directory="/opt/prefect",
        script=ENTRYPOINT_SCRIPT,
    )


class UnknownImage(LookupError):
    """An image the sandbox has no model of."""


PREFECT_SERVER_PACKAGES = ("prefect[redis,client,otel]==3.9.1", "prefect-redis==0.3.0")

BASE_IMAGES: Mapping[str, ImageModel] = {
    model.reference: model
    for model in (
        _prefect_image(
            "prefecthq/prefect:3.9.1-python3.12",
            python="3.12",
            packages=PREFECT_SERVER_PACKAGES,
        ),
    )
}
"""The upstream images our Dockerfiles build on, as they are published."""


def built_model(image: BuiltImage) -> ImageModel:
    """One of our images as its Dockerfile makes it: its base's model plus what the Dockerfile installs.
    A distribution the base has keeps the base's requirement (with its extras) when the Dockerfile pins
    the same version, and takes the Dockerfile's otherwise."""
    dockerfile = image.dockerfile
    base = BASE_IMAGES.get(dockerfile.base)
    if base is None:
        raise UnknownImage(
            f"{image.directory / 'Dockerfile'}: no model of its base {dockerfile.base!r} in "
            "blog_infra/sandbox/images.py; add one from the base image's Dockerfile and entry point"
        )
    pins = {_distribution(requirement): requirement for requirement in dockerfile.installs}
    packages = [
        requirement
        if _version(requirement) == _version(pins.get(_distribution(requirement), requirement))
        else pins[_distribution(requirement)]
        for requirement in base.packages
    ]
    present = {_distribution(requirement) for requirement in base.packages}
    packages += [requirement for name, requirement in pins.items() if name not in present]
    return replace(base, reference=f"{image.name}:{image.tag}", packages=tuple(packages))


def _version(requirement: str) -> str:
    return requirement.partition("==")[2]


def _distribution(requirement: str) -> str:
    return re.sub(r"\[.*\]", "", requirement.partition("==")[0]).lower()


IMAGES: Mapping[str, ImageModel] = {
    **BASE_IMAGES,
    **{built.tag: built_model(built) for built in BUILT_IMAGES},
}
"""Every image a task definition may name: by reference (upstream), or by tag (ours, in our ECR)."""


def is_modeled(reference: str) -> bool:
    return reference in IMAGES or reference.rpartition(":")[2] in IMAGES


def model(reference: str) -> ImageModel:
    """The model of `reference`; UnknownImage names the known ones."""
    _, _, tag = reference.rpartition(":")
    try:
        return IMAGES[reference] if reference in IMAGES else IMAGES[tag]
    except KeyError:
        known = ", ".join(sorted(IMAGES))
        raise UnknownImage(
            f"no model of image {reference!r} in blog_infra/sandbox/images.py (known: {known}); "
            "add one from the image's Dockerfile and entry point"
        ) from None


PREFECT_BASE = "prefecthq/prefect:3.9.1-python3.12"
"""The base of the flow-run images the sandbox models from a requirements file: the Prefect image the
platform's own Dockerfile builds on (images/prefect), so flow runs get the server's Prefect version."""
_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9_,.-]+\])?==[A-Za-z0-9.!+_-]+$")


class BadRequirements(ValueError):
    """A requirements file the sandbox cannot model an image from; the message names the line."""


def from_requirements(reference: str, requirements: Path, *, base: str = PREFECT_BASE) -> ImageModel:
    """The image `reference` as a Dockerfile `FROM <base>` + `RUN uv pip install -r <requirements>`
    makes it. Every line must pin one version (`name==version`, extras allowed): an image is built
    once, and an unpinned line would model whatever the index serves today."""
    try:
        lines = requirements.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BadRequirements(f"cannot read {requirements}: {exc.strerror}") from None
    pins: list[str] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not _PINNED.fullmatch(line):
            raise BadRequirements(
                f"{requirements}:{number}: {line!r} is not pinned; write it as name==version"
            )
        pins.append(line)
    model = BASE_IMAGES[base]
    present = {_distribution(requirement) for requirement in model.packages}
    clashes = [pin for pin in pins if _distribution(pin) in present]
    if clashes:
        raise BadRequirements(
            f"{requirements}: {', '.join(clashes)} replace(s) what {base} holds; remove the line"
        )
    return replace(model, reference=reference, packages=(*model.packages, *pins))
