"""Account shapes: facts of the emulated account that differ from moto's defaults, chosen by whoever
starts the emulator (a test, to meet an account as AWS may hand it out), so that the emulator fails
where such an account fails.

A shape is a small dataclass of fields, each None for moto's behaviour. `control.start(state_dir,
shape=...)` passes it to the server process as JSON in the environment variable `EMULATOR_SHAPE`;
the server reads it once at start (`current()`), and the extensions that honour a field read it from
there.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from functools import cache
from typing import Any

ENV_VAR = "EMULATOR_SHAPE"

DEFAULT_LAMBDA_CONCURRENCY = 1000
"""Lambda's default concurrent-executions quota per region (the account-wide default that
GetAccountSettings reports when no other quota applies)."""


@dataclass(frozen=True, kw_only=True)
class AccountShape:
    lambda_concurrency: int | None = None
    """The account's Lambda concurrent-executions quota in every region (GetAccountSettings
    `ConcurrentExecutions`); reservations that leave fewer than the minimum unreserved are refused,
    by PutFunctionConcurrency and by `AWS::Lambda::Function`. None: 1000, and no reservation is
    refused (moto's behaviour)."""
    zone_ids: dict[str, str] | None = None
    """Zone name -> zone id of this account (e.g. {"us-east-1a": "use1-az3"}), the per-account
    mapping AWS gives; names not listed keep moto's ids. None: moto's mapping."""

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AccountShape:
        values: Any = json.loads(text) if text.strip() else {}
        known = {f.name for f in fields(cls)}
        if not isinstance(values, dict) or set(values) - known:
            raise ValueError(f"{ENV_VAR} must be a JSON object with keys among {', '.join(sorted(known))}")
        return cls(**values)


@cache
def current() -> AccountShape:
    """The shape of this emulator process (from `EMULATOR_SHAPE`; moto's defaults when unset)."""
    return AccountShape.from_json(os.environ.get(ENV_VAR, ""))
