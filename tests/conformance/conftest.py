"""The conformance layer: the real software of each image, run with exactly the configuration the
synthesized templates give it (see blog_infra/sandbox). Every test here is marked `conformance`.

It needs root on Linux (mount namespaces, setpriv) and Debian's postgresql-15, redis-server and tini
(`make conformance-tools` installs them). Where they are missing it fails, naming what to install;
on a machine that cannot run it at all (not root), `make test-fast` leaves the layer out.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from blog_infra.sandbox.tls import CertificateAuthority

_NEEDED = {
    "/usr/lib/postgresql/15/bin/postgres": "postgresql-15",
    "/usr/bin/redis-server": "redis-server",
    "/usr/bin/tini": "tini",
    "/usr/bin/python3.11": "python3.11-venv",
    "/bin/ip": "iproute2",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.conformance)


@pytest.fixture(scope="session")
def sandbox_requirements() -> None:
    """Fail (never skip) when the machine cannot run the layer, naming what is missing."""
    if os.geteuid() != 0:
        pytest.fail("the conformance layer needs root (mount namespaces); run make test-fast instead")
    missing = sorted({package for path, package in _NEEDED.items() if not Path(path).exists()})
    if missing:
        pytest.fail(f"missing Debian packages: {' '.join(missing)} (make conformance-tools installs them)")


@pytest.fixture(scope="session")
def sandbox_dir(sandbox_requirements: None) -> Iterator[Path]:
    """A world-traversable scratch directory outside /tmp (the containers mount their own /tmp)."""
    directory = Path(tempfile.mkdtemp(prefix="blog-infra-conformance-", dir="/var/tmp"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def ca(sandbox_dir: Path) -> CertificateAuthority:
    """The CA that signs every sandbox server's certificate; stands in for the RDS CA bundle."""
    return CertificateAuthority(sandbox_dir / "ca")
