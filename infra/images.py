"""The container images the platform builds, and the evidence that what they build on was published.

An image of ours is a directory under `images/` with a Dockerfile: its tag is derived from the
directory's content (`<version>-<12 hex digits>`), so a change of the Dockerfile is a new tag, and
ECR's immutable tags keep every deployed reference meaning one build. The task definitions, the
pipeline that builds and pushes the image, and the sandbox that runs its software all read the same
Dockerfile through this module.

Publication of upstream tags is decided from the publisher's release process, never from a naming
pattern that looks plausible:

- `prefecthq/prefect:<version>-python<python>`: PrefectHQ/prefect `.github/workflows/docker-images.yaml`
  runs on every published GitHub release (`on: release: types: [published]`) and pushes the
  `type=pep440,pattern={{version}}` tag with the suffix `-python<python>` for each Python of its
  matrix (3.10 to 3.14). The same event publishes the wheel to PyPI
  (`.github/workflows/python-package.yaml`), so a Prefect release on PyPI has these tags.
- `prefecthq/prefect-aws:<aws>-python<python>-prefect<prefect>`: pushed only by prefect-aws's own
  release (`.github/workflows/integration-package-release.yaml`, job `get-prefect-version`, reads
  `releases/latest`, then calls `prefect-aws-docker-images.yaml` with it): one Prefect version per
  prefect-aws release, the latest Prefect at that moment.

Release dates are read offline from the wheels (`pip download --no-deps`): a Prefect wheel's
`prefect/_build_info.py` `__build_date__`, a prefect-aws wheel's zip entry times.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

IMAGES_ROOT = Path(__file__).resolve().parent.parent / "images"

PREFECT_RELEASES: dict[str, str] = {
    "3.8.5": "2026-09-03",
    "3.8.6": "2026-09-14",
    "3.9.1": "2026-10-30",
}
"""Prefect releases on PyPI the platform refers to, with their wheels' `__build_date__`."""
PREFECT_DOCKER_PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
"""The `python-version` matrix of PrefectHQ/prefect `.github/workflows/docker-images.yaml`."""
PREFECT_AWS_IMAGE_PREFECT: dict[str, str] = {"0.7.12": "3.8.5"}
"""prefect-aws release -> the Prefect its release workflow built its images with: 0.7.12's wheel was
built 2026-09-08, between Prefect 3.8.5 (2026-09-03) and 3.8.6 (2026-09-14)."""

_PREFECT_TAG = re.compile(r"^prefecthq/prefect:(?P<prefect>[0-9][^-]*)-python(?P<python>[0-9.]+)$")
_PREFECT_AWS_TAG = re.compile(
    r"^prefecthq/prefect-aws:(?P<aws>[0-9][^-]*)-python(?P<python>[0-9.]+)-prefect(?P<prefect>[0-9].*)$"
)


class ImageError(ValueError):
    """An image definition that cannot be built or refers to what was never published."""


def unpublished_reason(reference: str) -> str | None:
    """None when `reference` is an upstream tag whose publication the release process shows; else why not."""
    prefect = _PREFECT_TAG.fullmatch(reference)
    if prefect:
        if prefect["prefect"] not in PREFECT_RELEASES:
            return f"{reference}: Prefect {prefect['prefect']} is not a release recorded in infra/images.py"
        if prefect["python"] not in PREFECT_DOCKER_PYTHONS:
            return f"{reference}: Prefect's docker-images workflow builds no python{prefect['python']} image"
        return None
    aws = _PREFECT_AWS_TAG.fullmatch(reference)
    if aws:
        built_with = PREFECT_AWS_IMAGE_PREFECT.get(aws["aws"])
        if built_with is None:
            return f"{reference}: prefect-aws {aws['aws']} is not a release recorded in infra/images.py"
        if aws["prefect"] != built_with:
            return (
                f"{reference} was never published: prefect-aws {aws['aws']}'s release built its images "
                f"with Prefect {built_with} only (the latest Prefect when it was released)"
            )
        if aws["python"] not in PREFECT_DOCKER_PYTHONS:
            return f"{reference}: prefect-aws's image workflow builds no python{aws['python']} image"
        return None
    return f"{reference}: no publication evidence for this repository in infra/images.py"


@dataclass(frozen=True)
class Dockerfile:
    """What the platform relies on in one of its Dockerfiles: the base, and what it installs on it."""

    base: str
    installs: tuple[str, ...]
    """The requirements of its `RUN uv pip install --system ...` lines, in order."""

    @classmethod
    def parse(cls, path: Path) -> Dockerfile:
        lines = [line.strip() for line in path.read_text().splitlines()]
        instructions = [line for line in lines if line and not line.startswith("#")]
        bases = [line.split()[1] for line in instructions if line.upper().startswith("FROM ")]
        if len(bases) != 1:
            raise ImageError(f"{path}: expected one FROM line, found {len(bases)}")
        installs: list[str] = []
        for line in instructions:
            keyword, _, rest = line.partition(" ")
            if keyword.upper() != "RUN":
                if keyword.upper() != "FROM":
                    raise ImageError(f"{path}: {keyword} is not modeled by infra/images.py; use FROM and RUN")
                continue
            words = shlex.split(rest)
            if words[:4] != ["uv", "pip", "install", "--system"]:
                raise ImageError(
                    f"{path}: RUN {rest!r} is not a `uv pip install --system` the sandbox can model"
                )
            for word in words[4:]:
                if word.startswith("-"):
                    continue
                if "==" not in word:
                    raise ImageError(f"{path}: {word!r} is not pinned (name==version)")
                installs.append(word)
        return cls(base=bases[0], installs=tuple(installs))


@dataclass(frozen=True)
class BuiltImage:
    """An image the pipeline builds from `images/<name>/` and pushes to the environment's ECR repository."""

    name: str

    @property
    def directory(self) -> Path:
        return IMAGES_ROOT / self.name

    @property
    def dockerfile(self) -> Dockerfile:
        return Dockerfile.parse(self.directory / "Dockerfile")

    @property
    def tag(self) -> str:
        """`<version of the image's main package>-<12 hex digits of the directory's content>`."""
        digest = hashlib.sha256()
        for path in sorted(p for p in self.directory.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(self.directory)).encode() + b"\0" + path.read_bytes() + b"\0")
        version = dict(_split(requirement) for requirement in self.dockerfile.installs).get(self.name, "")
        return f"{version}-{digest.hexdigest()[:12]}" if version else digest.hexdigest()[:12]


def _split(requirement: str) -> tuple[str, str]:
    name, _, version = requirement.partition("==")
    return re.sub(r"\[.*\]", "", name).lower(), version


PREFECT_IMAGE = BuiltImage("prefect")
"""Prefect with prefect-aws: the API, the background services and the worker."""
BUILT_IMAGES = (PREFECT_IMAGE,)
