"""The account shape: facts about the emulated account that a test chooses when it starts an emulator.

AWS accounts differ in ways that decide whether a deploy succeeds (which images a registry holds,
quotas, zone mappings). A shape makes the emulator behave like one such account; its default is as
strict as AWS where the emulator can tell. `control.start(state_dir, shape=...)` writes the shape
to `state_dir/shape.json`, and the server (`python -m emulator.server --shape FILE`) reads it once
at start; a running emulator keeps the shape it was started with.

Add a field for each new fact, with the default AWS's behaviour, and say in
`emulator/README.md` what it changes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHAPE_FILE = "shape.json"
_IAM_MODES = ("off", "audit", "enforce")
DEFAULT_LAMBDA_CONCURRENCY = 1000
"""Lambda's default concurrent-executions quota per region."""


class ShapeError(ValueError):
    """A shape file that cannot be read; the message names the file and the field."""


@dataclass(frozen=True, kw_only=True)
class EmulatorShape:
    ecs_images_in_ecr: bool = True
    """An ``AWS::ECS::Service`` with a desired count above zero fails its creation, as the deployment
    circuit breaker fails it on AWS, when a container of its task definition names an image that is
    not in this emulator's ECR (an ECR repository of the account holding that tag or digest). On by
    default, as on AWS; off: every image counts as pullable."""

    lambda_concurrency: int = DEFAULT_LAMBDA_CONCURRENCY
    """The account's Lambda concurrent-executions quota in every region (GetAccountSettings
    `ConcurrentExecutions`; `emulator/lambda_account.py`). A reservation that leaves fewer than the
    minimum unreserved is refused, by PutFunctionConcurrency and by `AWS::Lambda::Function`, as on
    AWS. Default: Lambda's default quota; a new account's can be 10."""
    iam: str = "enforce"
    """How the emulator treats IAM (`emulator/iam_enforcement.py`, `emulator/iam_authorization.py`):
    `enforce` (AWS's behaviour, the default) refuses what AWS would refuse to a role session or an IAM
    user, with each service's own AccessDenied; `audit` allows it and logs the would-be refusal;
    `off` is moto's behaviour, every call allowed. The emulator's own keys act as an administrator
    in every mode. Switchable at run time through `/_emulator/iam/enforcement`."""
    zone_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    """Zone name -> zone id of this account (e.g. {"us-east-1b": "use1-az3"}), the per-account mapping
    AWS gives (`emulator/zones.py`); the zone that held that id takes the name's old one. Empty:
    moto's mapping."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "shape") -> EmulatorShape:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ShapeError(f"{source}: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ShapeError(f"{source}: expected a JSON object of shape fields")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ShapeError(f"{source}: unknown fields {unknown}; known: {sorted(fields)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            expected = type(getattr(cls(), name))
            if type(value) is not expected:
                raise ShapeError(f"{source}: {name} must be a {expected.__name__}, not {value!r}")
            values[name] = value
        if values.get("iam", "enforce") not in _IAM_MODES:
            raise ShapeError(f"{source}: iam must be one of {', '.join(_IAM_MODES)}, not {values['iam']!r}")
        return cls(**values)

    @classmethod
    def read(cls, path: Path) -> EmulatorShape:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ShapeError(f"{path}: cannot be read ({exc.strerror})") from None
        return cls.from_json(text, str(path))


_current = EmulatorShape()


def current() -> EmulatorShape:
    """The shape of the account this process emulates (the default one unless the server set one)."""
    return _current


def use(shape: EmulatorShape) -> None:
    global _current
    _current = shape
