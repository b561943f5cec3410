"""The props tables: fields, types, defaults and descriptions read with `ast`; the generated blocks."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from textwrap import dedent

import pytest

from blog_infra.docs.markers import MarkerError, block, replace_block
from blog_infra.docs.props import REQUIRED, PropField, props_markdown, read_props
from blog_infra.paths import REPO_ROOT
from infra.ownership import declared_modules

SOURCE = dedent(
    '''
    from dataclasses import dataclass, field

    from aws_cdk import Duration

    DEFAULT_TIMEOUT = Duration.minutes(2)


    @dataclass(frozen=True)
    class Helper:
        """Not a props class."""

        name: str
        """Ignored."""


    @dataclass(frozen=True, kw_only=True)
    class ThingProps:
        """Inputs of the thing."""

        vpc: ec2.IVpc
        """VPC of the thing."""
        timeout: Duration = DEFAULT_TIMEOUT
        """Longest run of one
        invocation."""
        environment: Mapping[str, str] = field(default_factory=dict)
        """Plain settings."""
        retention: Duration = field(default_factory=lambda: Duration.days(90))
        """Logs are deleted after this."""
        key: kms.IKey | None = None
        """Encryption key; None: the service's own."""
        count: int = 1
        name: str
        """Required after defaults (kw_only)."""
    '''
)


@pytest.fixture(scope="module")
def thing(tmp_path_factory: pytest.TempPathFactory) -> list[PropField]:
    path = tmp_path_factory.mktemp("module") / "construct.py"
    path.write_text(SOURCE, encoding="utf-8")
    classes = read_props(path)
    assert [c.name for c in classes] == ["ThingProps"]
    return list(classes[0].fields)


def test_fields_come_in_declaration_order_with_their_types(thing: list[PropField]) -> None:
    # GIVEN a props dataclass THEN every annotated field is a row, in order, with its annotation
    assert [(f.name, f.type) for f in thing] == [
        ("vpc", "ec2.IVpc"),
        ("timeout", "Duration"),
        ("environment", "Mapping[str, str]"),
        ("retention", "Duration"),
        ("key", "kms.IKey | None"),
        ("count", "int"),
        ("name", "str"),
    ]


def test_defaults_resolve_constants_and_factories(thing: list[PropField]) -> None:
    defaults = {f.name: f.default for f in thing}
    # THEN a field without a default is required, even after defaulted ones (kw_only)
    assert defaults["vpc"] == REQUIRED and defaults["name"] == REQUIRED
    # AND a module constant shows its expression, a factory what it makes
    assert defaults["timeout"] == "Duration.minutes(2)"
    assert defaults["environment"] == "{}"
    assert defaults["retention"] == "Duration.days(90)"
    assert defaults["key"] == "None"
    assert defaults["count"] == "1"


def test_descriptions_are_the_string_right_below_each_field(thing: list[PropField]) -> None:
    descriptions = {f.name: f.description for f in thing}
    assert descriptions["vpc"] == "VPC of the thing."
    # THEN a multi-line docstring becomes one line, and a field without one has none
    assert descriptions["timeout"] == "Longest run of one invocation."
    assert descriptions["count"] == ""


def test_the_table_escapes_pipes_and_marks_undocumented_fields(thing: list[PropField]) -> None:
    from blog_infra.docs.props import PropsClass

    table = props_markdown([PropsClass("ThingProps", tuple(thing))])
    lines = table.splitlines()
    assert lines[0] == "| Name | Type | Default | Description |"
    assert "| `vpc` | `ec2.IVpc` | required | VPC of the thing. |" in lines
    assert "| `key` | `kms.IKey \\| None` | `None` | Encryption key; None: the service's own. |" in lines
    assert "| `count` | `int` | `1` | (undocumented) |" in lines


@pytest.mark.parametrize("module", declared_modules(), ids=lambda m: m.package.rsplit(".", 1)[-1])
def test_every_module_props_field_is_read_and_documented(module: object) -> None:
    # GIVEN a module of the platform
    package = module.package  # type: ignore[attr-defined]
    construct = importlib.import_module(f"{package}.construct")
    classes = read_props(REPO_ROOT / package.replace(".", "/") / "construct.py", package_root=REPO_ROOT)
    # THEN the ast reading finds the same props classes and fields as Python does
    assert classes, f"{package} has no *Props dataclass"
    for props in classes:
        runtime = [f.name for f in dataclasses.fields(getattr(construct, props.name))]
        assert [f.name for f in props.fields] == runtime
        # AND every field carries its description (the convention the README relies on)
        assert all(f.description for f in props.fields), [f.name for f in props.fields if not f.description]


def test_a_block_replaces_only_what_is_between_its_markers() -> None:
    text = "intro\n<!-- BEGIN GENERATED: props -->\nold\n<!-- END GENERATED: props -->\noutro\n"
    result = replace_block(text, "props", "new table", where="README.md")
    assert result == f"intro\n{block('props', 'new table')}\noutro\n"
    assert replace_block(result, "props", "new table", where="README.md") == result


@pytest.mark.parametrize(
    "text",
    [
        "no markers at all\n",
        "<!-- BEGIN GENERATED: props -->\n<!-- END GENERATED: props -->\n" * 2,
        "<!-- END GENERATED: props -->\n<!-- BEGIN GENERATED: props -->\n",
    ],
    ids=["missing", "repeated", "reversed"],
)
def test_a_file_without_exactly_one_pair_of_markers_is_refused(text: str) -> None:
    with pytest.raises(MarkerError, match=r"README.md .* generated block 'props'"):
        replace_block(text, "props", "table", where="README.md")


def test_readme_of_a_module_is_created_when_missing(tmp_path: Path) -> None:
    from blog_infra.docs import module_readmes

    # GIVEN the generator's view of the modules, WHEN a README is missing
    network = next(g for g in module_readmes(REPO_ROOT) if str(g.path).endswith("core/network/README.md"))
    created = network.content(None)
    # THEN it is created with a title, the description and the props table
    assert created.startswith("# core/network\n")
    assert "| `zone_ids` | `tuple[str, ...]` | required |" in created
