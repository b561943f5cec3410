"""aws_policy is shared by the platform and the emulator, so it imports neither."""

from __future__ import annotations

import ast

from blog_infra.paths import REPO_ROOT


def _imported_packages(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO_ROOT))] = names
    return found


def test_aws_policy_imports_neither_the_platform_nor_the_emulator() -> None:
    forbidden = {"infra", "emulator", "blog_infra"}
    offenders = {path: names & forbidden for path, names in _imported_packages("aws_policy").items()}
    assert not {path: names for path, names in offenders.items() if names}
