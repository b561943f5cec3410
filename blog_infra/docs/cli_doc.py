"""`docs/cli.md`: the reference of every `blog-infra` command, from its `--help`."""

from __future__ import annotations

from collections.abc import Iterator

import click

WIDTH = 100
"""Help is rendered at this width whatever the terminal, so the page does not depend on it."""


def walk(command: click.Command, name: str, parent: click.Context | None = None) -> Iterator[click.Context]:
    """A context for `command` and for each of its subcommands, depth first, in name order."""
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    context = click.Context(command, info_name=name, parent=parent, **settings)
    yield context
    if isinstance(command, click.Group):
        for sub_name in sorted(command.list_commands(context)):
            subcommand = command.get_command(context, sub_name)
            if subcommand is not None and not subcommand.hidden:
                yield from walk(subcommand, sub_name, context)


def reference(root: click.Command, name: str = "blog-infra") -> str:
    contexts = list(walk(root, name))
    lines = ["| Command | What it does |", "|---|---|"]
    for context in contexts[1:]:
        path = context.command_path
        anchor = path.replace(" ", "-")
        summary = context.command.get_short_help_str(limit=WIDTH).replace("|", "\\|")
        lines.append(f"| [`{path}`](#{anchor}) | {summary} |")
    for context in contexts:
        help_text = context.command.get_help(context).rstrip()
        lines += ["", f"## {context.command_path}", "", "```text", help_text, "```"]
    return "\n".join(lines)


SKELETON = """# Command line reference

`blog-infra` is installed into `.venv/bin` by `make setup`. This page is generated from each command's
`--help`; run `make docs` after changing a command.

<!-- BEGIN GENERATED: cli -->
<!-- END GENERATED: cli -->
"""
