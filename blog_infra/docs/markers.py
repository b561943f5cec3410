"""Generated blocks inside hand-written files, between `<!-- BEGIN GENERATED: name -->` and
`<!-- END GENERATED: name -->`."""

from __future__ import annotations

import re

HINT = "<!-- Do not edit this block: `make docs` regenerates it from the code. -->"


class MarkerError(Exception):
    """A file lacks, repeats or misorders the markers of a generated block."""


def begin(name: str) -> str:
    return f"<!-- BEGIN GENERATED: {name} -->"


def end(name: str) -> str:
    return f"<!-- END GENERATED: {name} -->"


def block(name: str, body: str) -> str:
    """A whole generated block: markers, hint and body."""
    return f"{begin(name)}\n{HINT}\n\n{body.strip()}\n\n{end(name)}"


def replace_block(text: str, name: str, body: str, *, where: str) -> str:
    """`text` with the block `name` holding `body`; `where` names the file in errors."""
    pattern = re.compile(re.escape(begin(name)) + r".*?" + re.escape(end(name)), re.DOTALL)
    found = pattern.findall(text)
    if len(found) != 1:
        problem = "has no" if not found else "has more than one"
        raise MarkerError(
            f"{where} {problem} generated block {name!r}: it needs one pair of lines "
            f"'{begin(name)}' and '{end(name)}'"
        )
    return pattern.sub(lambda _: block(name, body), text, count=1)
