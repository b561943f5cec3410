"""What each container image the platform runs contains, and what its entry point does.

One model per pinned image reference. The sandbox installs `packages` from PyPI (into a runtime of
its own, see `runtime`) and starts `entry_point` + the task's command with `environment` under the
task's environment, as the image would. A test compares these models with the image references in
the environments' configurations: a tag bump without a model fails.

Sources (PrefectHQ/prefect):
- `Dockerfile`: the final stage installs `prefect[redis,client,otel]` with uv into the system Python
  (`UV_SYSTEM_PYTHON=1`), has no `USER` line, `WORKDIR /opt/prefect`, and
  `ENTRYPOINT ["/usr/bin/tini", "-g", "--", "/opt/prefect/entrypoint.sh"]`; the base image is
  `python:<version>-slim` (no curl or wget).
- `scripts/entrypoint.sh`: sources `~/.bashrc` if present; when `EXTRA_PIP_PACKAGES` is set, runs
  `uv pip install --system $EXTRA_PIP_PACKAGES` and exits with uv's code on failure; then
  `exec "$@"`.
- `src/integrations/prefect-aws/Dockerfile` and `.github/workflows/prefect-aws-docker-images.yaml`:
  `prefecthq/prefect-aws:<prefect-aws>-python<python>-prefect<prefect>` is
  `FROM prefecthq/prefect:<prefect>-python<python>` plus `uv pip install prefect==<prefect>
  prefect-aws==<prefect-aws>`, with the same entry point; it is built for every Prefect release and
  every prefect-aws release.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

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


PREFECT_SERVER_PACKAGES = ("prefect[redis,client,otel]==3.9.1", "prefect-redis==0.3.0")

IMAGES: Mapping[str, ImageModel] = {
    model.reference: model
    for model in (
        _prefect_image(
            "prefecthq/prefect:3.9.1-python3.12",
            python="3.12",
            packages=PREFECT_SERVER_PACKAGES,
        ),
        _prefect_image(
            "prefecthq/prefect-aws:0.7.12-python3.12-prefect3.9.1",
            python="3.12",
            packages=(*PREFECT_SERVER_PACKAGES, "prefect-aws==0.7.12"),
        ),
    )
}


class UnknownImage(LookupError):
    """An image the sandbox has no model of."""


def model(reference: str) -> ImageModel:
    """The model of `reference`; UnknownImage names the known ones."""
    try:
        return IMAGES[reference]
    except KeyError:
        known = ", ".join(sorted(IMAGES))
        raise UnknownImage(
            f"no model of image {reference!r} in blog_infra/sandbox/images.py (known: {known}); "
            "add one from the image's Dockerfile and entry point"
        ) from None


_PREFECT_TAG = re.compile(r"^prefecthq/prefect:(?P<prefect>[0-9][^-]*)-python(?P<python>[0-9.]+)$")
_PREFECT_AWS_TAG = re.compile(
    r"^prefecthq/prefect-aws:(?P<aws>[0-9][^-]*)-python(?P<python>[0-9.]+)-prefect(?P<prefect>[0-9].*)$"
)


def versions_in_tag(reference: str) -> dict[str, str]:
    """The versions an official image's tag states: python, prefect and (prefect-aws images) prefect-aws."""
    for pattern in (_PREFECT_TAG, _PREFECT_AWS_TAG):
        match = pattern.fullmatch(reference)
        if match:
            named = match.groupdict()
            result = {"python": named["python"], "prefect": named["prefect"]}
            if "aws" in named:
                result["prefect-aws"] = named["aws"]
            return result
    return {}
