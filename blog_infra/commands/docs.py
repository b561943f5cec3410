"""`blog-infra docs`: reference docs, Backstage catalog and architecture diagram, from the code."""

from __future__ import annotations

import click

from blog_infra import render
from blog_infra.errors import CliError
from blog_infra.exit_codes import ExitCode
from blog_infra.paths import REPO_ROOT


@click.command("docs")
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Write nothing; exit 3 naming each generated file that is out of date.",
)
def docs_command(check_only: bool) -> None:
    """Generate the docs that derive from the code: ownership, consumer contract, module props, CLI
    reference, architecture diagram and Backstage catalog.

    Synthesizes the prod stack in-process (no AWS access, no gates), then rewrites the blocks between
    '<!-- BEGIN GENERATED: name -->' and '<!-- END GENERATED: name -->' in docs/ownership.md,
    docs/outputs.md, docs/cli.md and every module's README.md, and the whole of catalog-info.yaml and
    docs/architecture.dot. docs/architecture.svg and .png are rendered from the DOT file with
    Graphviz's dot when it changes (make docs installs Graphviz).

    Example: blog-infra docs --check
    """
    from blog_infra import docs
    from blog_infra.docs.markers import MarkerError
    from blog_infra.docs.platform import DOCS_ENV, synthesize

    with render.err_console.status(f"Synthesizing {DOCS_ENV} to read the platform..."):
        platform = synthesize(DOCS_ENV)
    if check_only:
        stale = docs.check(REPO_ROOT, platform)
        for item in stale:
            render.err_console.print(f"[red]{item.reason}:[/] {item.path}", soft_wrap=True)
        if stale:
            noun = "file is" if len(stale) == 1 else "files are"
            raise CliError(
                f"{len(stale)} generated {noun} out of date: run `make docs` and commit the result",
                ExitCode.CHANGES,
            )
        render.console.print("Generated docs are up to date.")
        return
    try:
        written = docs.write(REPO_ROOT, platform)
    except MarkerError as exc:
        raise CliError(str(exc), ExitCode.BAD_INPUT) from None
    if docs.images_needed(REPO_ROOT, written):
        try:
            with render.err_console.status("Rendering the architecture diagram with Graphviz..."):
                written += docs.render_images(REPO_ROOT)
        except RuntimeError as exc:
            for path in written:
                render.console.print(f"wrote {path}")
            raise CliError(f"{exc}; the text files are written, the images are not") from None
    for path in written:
        render.console.print(f"wrote {path}")
    if not written:
        render.console.print("Generated docs are up to date.")
