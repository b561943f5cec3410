"""requirements.txt is a complete lock: the packages the project names, and everything they need,
each pinned to one version. A fresh machine then installs the set the suite passed with, not
whatever the newest release of a transitive dependency is on the day CI runs."""

from __future__ import annotations

import re
from importlib import metadata

from packaging.requirements import Requirement

from tests.conftest import REPO_ROOT

LOCK = REPO_ROOT / "requirements.txt"
TRANSITIVE_MARKER = "# What those depend on"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock() -> tuple[list[Requirement], list[Requirement]]:
    """(the project's own requirements, what they depend on), as the file's two sections hold them."""
    direct: list[Requirement] = []
    transitive: list[Requirement] = []
    section = direct
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line.startswith(TRANSITIVE_MARKER):
            section = transitive
        stripped = line.split("#", 1)[0].strip()
        if stripped:
            section.append(Requirement(stripped))
    return direct, transitive


def closure(roots: list[Requirement]) -> set[str]:
    """Every distribution the roots need, with their extras, read from the installed metadata."""
    seen: set[str] = set()
    pending = [(canonical(r.name), frozenset(r.extras)) for r in roots]
    visited: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in visited:
            continue
        visited.add((name, extras))
        seen.add(name)
        for text in metadata.distribution(name).requires or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in (extras or {""})):
                pending.append((canonical(requirement.name), frozenset(requirement.extras)))
    return seen


def test_every_line_pins_one_version() -> None:
    direct, transitive = read_lock()
    assert direct and transitive
    loose = [
        str(r)
        for r in direct + transitive
        if len(r.specifier) != 1 or next(iter(r.specifier)).operator != "=="
    ]
    assert loose == []


def test_the_lock_holds_everything_the_project_needs_and_nothing_else() -> None:
    direct, transitive = read_lock()
    pinned = {canonical(r.name) for r in direct + transitive}
    needed = closure(direct)
    assert sorted(needed - pinned) == [], "needed but not pinned: add them to requirements.txt"
    assert sorted(pinned - needed) == [], "pinned but needed by nothing: remove them from requirements.txt"


def test_the_environment_runs_what_the_lock_pins() -> None:
    direct, transitive = read_lock()
    installed = {
        canonical(r.name): (next(iter(r.specifier)).version, metadata.version(r.name))
        for r in direct + transitive
    }
    assert {name: versions for name, versions in installed.items() if versions[0] != versions[1]} == {}
