"""Configurations derived from the model's own constraints: every bounded number at its edge and just
beyond, every enum member and boolean (and a value of the wrong kind). Each is either accepted or
refused in one line naming the file and the field; the accepted values, combined (all lower edges,
all upper edges, every alternative), synthesize without an error.

Each value is checked through the model and the real file loader (cheap); only the few combined
configurations are synthesized (slow, marked so).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel

from infra.config import (
    ENVS_DIR,
    FARGATE_TASK_SIZES,
    LOG_RETENTION_DAYS,
    ConfigError,
    EnvConfig,
    TaskSize,
    load_config,
)
from tests.cli.test_bad_input import merge, toml_text

BASE_ENV = "local"
BASE = tomllib.loads((ENVS_DIR / BASE_ENV / "config.toml").read_text(encoding="utf-8"))


def _enumerated(model: type[BaseModel], name: str, field: Any) -> tuple[int, ...] | None:
    """The values a field's validator enumerates (rather than bounds), where the walk can know them."""
    if issubclass(model, TaskSize) and name == "cpu":
        return tuple(FARGATE_TASK_SIZES)
    if any(getattr(getattr(m, "func", None), "__name__", "") == "_log_retention" for m in field.metadata):
        return LOG_RETENTION_DAYS
    return None


@dataclass(frozen=True)
class Edge:
    path: tuple[str, ...]
    value: Any
    kind: str
    """`lower` or `upper` (a bound, or just beyond it), `alternative` (an enum member or boolean),
    `wrong` (a value of another kind)."""
    beyond: bool
    """The value lies outside the field's own constraint: the model must refuse it."""

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    def change(self) -> dict[str, Any]:
        result: Any = self.value
        for part in reversed(self.path):
            result = {part: result}
        assert isinstance(result, dict)
        return result


def _model_of(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def derive(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[Edge]:
    """Every edge of `model`'s fields, nested settings included."""
    edges: list[Edge] = []
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        annotation = field.annotation
        nested = _model_of(annotation)
        if nested is not None:
            edges.extend(derive(nested, path))
        elif annotation is bool:
            edges += [Edge(path, value, "alternative", False) for value in (True, False)]
            edges.append(Edge(path, "yes", "wrong", True))
        elif isinstance(annotation, type) and issubclass(annotation, Enum):
            edges += [Edge(path, member.value, "alternative", False) for member in annotation]
            edges.append(Edge(path, "not-a-member", "wrong", True))
        elif (allowed := _enumerated(model, name, field)) is not None:
            edges += [Edge(path, allowed[0], "lower", False), Edge(path, allowed[0] - 1, "lower", True)]
            edges += [Edge(path, allowed[-1], "upper", False), Edge(path, allowed[-1] + 1, "upper", True)]
            edges.append(Edge(path, allowed[0] + 1, "wrong", True))
        elif annotation in (int, float):
            step: int | float = 1 if annotation is int else 0.5
            for bound in field.metadata:
                if isinstance(bound, annotated_types.Ge):
                    edges += [
                        Edge(path, bound.ge, "lower", False),
                        Edge(path, bound.ge - step, "lower", True),
                    ]
                elif isinstance(bound, annotated_types.Gt):
                    edges += [
                        Edge(path, bound.gt + step, "lower", False),
                        Edge(path, bound.gt, "lower", True),
                    ]
                elif isinstance(bound, annotated_types.Le):
                    edges += [
                        Edge(path, bound.le, "upper", False),
                        Edge(path, bound.le + step, "upper", True),
                    ]
                elif isinstance(bound, annotated_types.Lt):
                    edges += [
                        Edge(path, bound.lt - step, "upper", False),
                        Edge(path, bound.lt, "upper", True),
                    ]
            edges.append(Edge(path, "1", "wrong", True))
    return edges


EDGES = derive(EnvConfig)


def write(root: Path, values: dict[str, Any]) -> Path:
    folder = root / BASE_ENV
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(toml_text(values), encoding="utf-8")
    return root


def outcome(root: Path, values: dict[str, Any]) -> EnvConfig | str:
    """The loaded configuration, or the one-line message that refused it."""
    try:
        return load_config(BASE_ENV, write(root, values))
    except ConfigError as exc:
        return str(exc)


def test_the_walk_finds_every_kind_of_constraint() -> None:
    # GIVEN the model WHEN its edges are derived THEN the known bounded fields and enums are among them
    dotted = {edge.dotted for edge in EDGES}
    for field in (
        "network.az_count",
        "aurora.min_capacity",
        "aurora.backup_retention_days",
        "buckets.raw_infrequent_access_days",
        "backstage.scaling.memory_mib",
        "prefect.server.max_capacity",
        "prefect.worker_task.memory_mib",
        "lambda_concurrency.ork_processor",
        "target",
        "prefect.cpu_architecture",
        "observability.dashboard",
        "backstage.scaling.cpu",
        "network.flow_log_retention_days",
    ):
        assert field in dotted, field
    assert {edge.kind for edge in EDGES} == {"lower", "upper", "alternative", "wrong"}


@pytest.mark.parametrize("edge", EDGES, ids=lambda edge: f"{edge.dotted}={edge.value!r}")
def test_each_edge_is_accepted_or_refused_in_one_line(edge: Edge, tmp_path: Path) -> None:
    # GIVEN the local environment with one value at (or just beyond) the edge of its constraint
    # WHEN the file is loaded
    result = outcome(tmp_path, merge(BASE, edge.change()))
    # THEN a value beyond its own constraint is refused naming the file and the field; a value
    # within it is accepted, or refused by a rule that relates it to another field, in one line
    if isinstance(result, EnvConfig):
        assert not edge.beyond, f"{edge.dotted}={edge.value!r} was accepted"
        return
    assert "\n" not in result
    assert result.startswith(f"{BASE_ENV}/config.toml: ") or f"{BASE_ENV}/config.toml: " in result
    if edge.beyond:
        field_named = edge.dotted in result or f"{'.'.join(edge.path[:-1])}: " in result
        assert field_named, result


def combined(kind: str, tmp_path: Path) -> tuple[EnvConfig, list[str], list[str]]:
    """The base with every accepted edge of `kind` applied that still loads with the others: the
    configuration, the fields it moved, and those whose edge the other fields' values exclude.

    Edges are applied until none more fits, then two siblings at a time (a CPU size and its memory
    only fit together at the upper edge)."""
    values = BASE
    pending = [
        e for e in EDGES if e.kind == kind and not e.beyond and not (kind == "alternative" and _is_default(e))
    ]
    applied: list[str] = []
    attempt = 0

    def fits(*edges: Edge) -> bool:
        nonlocal values, attempt
        candidate = values
        for edge in edges:
            candidate = merge(candidate, edge.change())
        attempt += 1
        if isinstance(outcome(tmp_path / str(attempt), candidate), EnvConfig):
            values = candidate
            applied.extend(f"{edge.dotted}={edge.value!r}" for edge in edges)
            return True
        return False

    progress = True
    while progress:
        progress = False
        for edge in list(pending):
            if fits(edge):
                pending.remove(edge)
                progress = True
        for first in list(pending):
            for second in [e for e in pending if e.path[:-1] == first.path[:-1] and e is not first]:
                if first in pending and second in pending and fits(first, second):
                    pending.remove(first)
                    pending.remove(second)
                    progress = True
    config = outcome(tmp_path / "combined", values)
    assert isinstance(config, EnvConfig), config
    return config, applied, [f"{edge.dotted}={edge.value!r}" for edge in pending]


def _is_default(edge: Edge) -> bool:
    current: Any = load_config(BASE_ENV)
    for part in edge.path:
        current = getattr(current, part)
    return bool((current.value if isinstance(current, Enum) else current) == edge.value)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lower", "upper", "alternative"])
def test_the_accepted_edges_combined_synthesize(kind: str, tmp_path: Path) -> None:
    from blog_infra.synthesis import synth

    # GIVEN every accepted edge of one kind applied together (those another field excludes left out)
    config, applied, excluded = combined(kind, tmp_path)
    assert len(applied) >= 5, applied
    # WHEN synthesized with CDK's template rules on THEN it succeeds, with the stack's resources
    assembly = synth(config, tmp_path / "assembly", gates=False, validate=True)
    assert assembly.template()["Resources"], (applied, excluded)
