"""Reference docs generated from the code, and the check that they are current.

| File | Generated from | How |
|---|---|---|
| `docs/ownership.md` | `infra/ownership.py`, the modules' `OWNERSHIP`, the stack | blocks between markers |
| `docs/outputs.md` | `Contract.values` of the synthesized prod stack | blocks between markers |
| `infra/modules/<area>/<name>/README.md` | the module's `*Props` dataclasses (`ast`) | the `props` block |
| `docs/cli.md` | `--help` of every command | the `cli` block |
| `docs/portal-contract.md` | the prod `backstage` container, the backstage module | blocks between markers |
| `catalog-info.yaml` | the stack and the ownership model | the whole file |
| `docs/architecture.dot` | the stack (`diagrams`) | the whole file |
| `docs/architecture.svg`, `.png` | `docs/architecture.dot` (Graphviz) | rendered when the DOT changes |

The check compares the text files only (the images need Graphviz); it also reports missing images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from blog_infra.docs import catalog, cli_doc, diagram, outputs_doc, ownership_doc, portal_contract
from blog_infra.docs.markers import MarkerError, replace_block
from blog_infra.docs.platform import Platform
from blog_infra.docs.props import props_markdown, read_props
from infra.ownership import declared_modules

DOT = Path("docs/architecture.dot")
SVG = Path("docs/architecture.svg")
PNG = Path("docs/architecture.png")
CATALOG = Path("catalog-info.yaml")


@dataclass(frozen=True)
class Generated:
    """A generated text file: how to compute its content from its current text (None when missing)."""

    path: Path
    """Relative to the repository root."""
    content: Callable[[str | None], str]


@dataclass(frozen=True)
class Stale:
    """A generated file that does not match the code."""

    path: Path
    reason: str


def _blocks(path: Path, skeleton: str, blocks: dict[str, str]) -> Generated:
    def content(current: str | None) -> str:
        text = skeleton if current is None else current
        for name, body in blocks.items():
            text = replace_block(text, name, body, where=str(path))
        return text

    return Generated(path, content)


def _whole(path: Path, text: str) -> Generated:
    return Generated(path, lambda _current: text)


def _readme_skeleton(location: str, title: str, props_classes: list[str]) -> str:
    heading = ", ".join(f"`{name}`" for name in props_classes) or "none"
    return (
        f"# {location.removeprefix('infra/modules/')}\n\n{title}\n\n## Props ({heading})\n\n"
        "<!-- BEGIN GENERATED: props -->\n<!-- END GENERATED: props -->\n"
    )


def module_readmes(root: Path) -> list[Generated]:
    """The props table of every declared module's README.md."""
    generated = []
    for module in declared_modules():
        location = module.ownership.location or module.package.replace(".", "/")
        classes = read_props(root / location / "construct.py", package_root=root)
        skeleton = _readme_skeleton(location, module.ownership.description, [c.name for c in classes])
        generated.append(_blocks(Path(location) / "README.md", skeleton, {"props": props_markdown(classes)}))
    return generated


def generated_files(root: Path, platform: Platform) -> list[Generated]:
    """Every generated text file, in a stable order."""
    from blog_infra.cli import cli

    return [
        _blocks(Path("docs/ownership.md"), ownership_doc.SKELETON, ownership_doc.blocks(platform)),
        _blocks(Path("docs/outputs.md"), outputs_doc.SKELETON, outputs_doc.blocks(platform)),
        _blocks(Path("docs/cli.md"), cli_doc.SKELETON, {"cli": cli_doc.reference(cli)}),
        _blocks(Path("docs/portal-contract.md"), portal_contract.SKELETON, portal_contract.blocks(platform)),
        *module_readmes(root),
        _whole(CATALOG, catalog.render(platform)),
        _whole(DOT, diagram.dot_source(platform)),
    ]


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def check(root: Path, platform: Platform) -> list[Stale]:
    """The generated files that are missing or differ from what the code generates; writes nothing."""
    stale = []
    for item in generated_files(root, platform):
        current = _read(root / item.path)
        try:
            expected = item.content(current)
        except MarkerError as exc:
            stale.append(Stale(item.path, str(exc)))
            continue
        if current is None:
            stale.append(Stale(item.path, "missing"))
        elif current != expected:
            stale.append(Stale(item.path, "out of date"))
    for image in (SVG, PNG):
        if not (root / image).is_file():
            stale.append(Stale(image, f"missing (rendered from {DOT})"))
    return stale


def write(root: Path, platform: Platform) -> list[Path]:
    """Write every generated text file that differs; the paths written."""
    written = []
    for item in generated_files(root, platform):
        path = root / item.path
        current = _read(path)
        expected = item.content(current)
        if current != expected:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(expected, encoding="utf-8")
            written.append(item.path)
    return written


def images_needed(root: Path, written: list[Path]) -> bool:
    """Whether the images must be rendered: the DOT source changed, or an image is missing."""
    return DOT in written or not all((root / image).is_file() for image in (SVG, PNG))


def render_images(root: Path) -> list[Path]:
    """Render the SVG and PNG from the committed DOT source."""
    diagram.render((root / DOT).read_text(encoding="utf-8"), root / SVG, root / PNG)
    return [SVG, PNG]
