"""The props table of a module, read with `ast` from the `*Props` dataclasses of its `construct.py`.

A field's description is the string literal right below it. A default that names a module-level
constant is shown as the constant's expression; `field(default_factory=...)` as what the factory makes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REQUIRED = "required"


@dataclass(frozen=True)
class PropField:
    """One row of a props table."""

    name: str
    type: str
    default: str
    """Source expression of the default, or `required`."""
    description: str


@dataclass(frozen=True)
class PropsClass:
    name: str
    fields: tuple[PropField, ...]


def _is_dataclass(node: ast.ClassDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if (isinstance(target, ast.Name) and target.id == "dataclass") or (
            isinstance(target, ast.Attribute) and target.attr == "dataclass"
        ):
            return True
    return False


def _docstring(node: ast.stmt | None) -> str:
    if (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ):
        return " ".join(node.value.value.split())
    return ""


def _constants(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level `NAME = expression` and `NAME: type = expression` assignments."""
    found: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            found[node.targets[0].id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            found[node.target.id] = node.value
    return found


def _imported_constants(tree: ast.Module, package_root: Path) -> dict[str, ast.expr]:
    """Constants imported by name from the project's own modules (`from infra.x import NAME`)."""
    found: dict[str, ast.expr] = {}
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
            continue
        source = package_root.joinpath(*node.module.split(".")).with_suffix(".py")
        if not source.is_file():
            continue
        constants = _constants(ast.parse(source.read_text(encoding="utf-8")))
        for alias in node.names:
            if alias.name in constants:
                found[alias.asname or alias.name] = constants[alias.name]
    return found


def _default(value: ast.expr | None, constants: dict[str, ast.expr]) -> str:
    if value is None:
        return REQUIRED
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "field":
        for keyword in value.keywords:
            if keyword.arg == "default":
                return _default(keyword.value, constants)
            if keyword.arg == "default_factory":
                factory = keyword.value
                if isinstance(factory, ast.Lambda):
                    return _default(factory.body, constants)
                if isinstance(factory, ast.Name) and factory.id in ("dict", "list", "tuple", "set"):
                    return {"dict": "{}", "list": "[]", "tuple": "()", "set": "set()"}[factory.id]
                return f"{ast.unparse(factory)}()"
        return REQUIRED
    if isinstance(value, ast.Name) and value.id in constants:
        return _default(constants[value.id], constants)
    return ast.unparse(value)


def read_props(source: Path, *, package_root: Path | None = None) -> list[PropsClass]:
    """Every dataclass named `*Props` in `source`, with its fields in declaration order."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    constants = _constants(tree)
    if package_root is not None:
        constants = _imported_constants(tree, package_root) | constants
    classes = []
    for node in tree.body:
        if not (isinstance(node, ast.ClassDef) and node.name.endswith("Props") and _is_dataclass(node)):
            continue
        fields = []
        for index, statement in enumerate(node.body):
            if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
                continue
            following = node.body[index + 1] if index + 1 < len(node.body) else None
            fields.append(
                PropField(
                    name=statement.target.id,
                    type=ast.unparse(statement.annotation),
                    default=_default(statement.value, constants),
                    description=_docstring(following),
                )
            )
        classes.append(PropsClass(node.name, tuple(fields)))
    return classes


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    ticks = "``" if "`" in text else "`"
    padding = " " if ticks == "``" else ""
    return f"{ticks}{padding}{_cell(text)}{padding}{ticks}"


def props_markdown(classes: list[PropsClass]) -> str:
    """One table (name, type, default, description) per props class, titled when there are several."""
    parts = []
    for props in classes:
        lines = []
        if len(classes) > 1:
            lines += [f"`{props.name}`:", ""]
        lines += ["| Name | Type | Default | Description |", "|---|---|---|---|"]
        for field in props.fields:
            default = REQUIRED if field.default == REQUIRED else _code(field.default)
            description = _cell(field.description) or "(undocumented)"
            lines.append(f"| `{field.name}` | {_code(field.type)} | {default} | {description} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
