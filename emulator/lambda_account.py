"""Lambda's account-level concurrency, which moto lacks: GetAccountSettings (moto has no such route)
and the refusal of a reservation that leaves less than the minimum unreserved, by
PutFunctionConcurrency and by the `AWS::Lambda::Function` model, against the account shape's quota
(`EmulatorShape.lambda_concurrency`, Lambda's default 1000 unless a test chooses another), as AWS
refuses it (moto enforces only under its own `MOTO_LAMBDA_CONCURRENCY_QUOTA`).
"""

from __future__ import annotations

import json
from typing import Any

from moto.awslambda import urls as lambda_urls
from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaBackend
from moto.awslambda.utils import get_backend
from moto.core.responses import BaseResponse

from emulator import shape
from infra.aws_facts import MIN_UNRESERVED_CONCURRENCY

ACCOUNT_SETTINGS_PATH = r"{0}/(?P<api_version>[^/]+)/account-settings/?$"


def quota() -> int:
    return shape.current().lambda_concurrency


def reserved(backend: LambdaBackend, *, besides: str | None = None) -> int:
    """Executions reserved by the functions of `backend` (the one named `besides` left out)."""
    return sum(
        int(function.reserved_concurrency or 0)
        for function in backend.list_functions()
        if function.function_name != besides
    )


def refuse_reservation(backend: LambdaBackend, function_name: str, concurrency: Any) -> None:
    """Raise as Lambda does when reserving `concurrency` for `function_name` would leave fewer than
    the minimum unreserved executions."""
    if not concurrency:
        return
    left = quota() - reserved(backend, besides=function_name) - int(concurrency)
    if left < MIN_UNRESERVED_CONCURRENCY:
        raise InvalidParameterValueException(
            "Specified ReservedConcurrentExecutions for function decreases account's "
            f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED_CONCURRENCY}]."
        )


class AccountSettingsResponse(BaseResponse):
    """GET /2016-08-19/account-settings/: the quota of the shape, less what the functions reserve."""

    def __init__(self) -> None:
        super().__init__(service_name="awslambda")

    @classmethod
    def handle(cls, request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
        response = cls()
        response.setup_class(request, full_url, headers)
        backend = get_backend(response.current_account, response.region)
        functions = list(backend.list_functions())
        total = quota()
        body = {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": 262144000,
                "CodeSizeZipped": 52428800,
                "ConcurrentExecutions": total,
                "UnreservedConcurrentExecutions": total - reserved(backend),
            },
            "AccountUsage": {
                "TotalCodeSize": sum(int(f.code_size or 0) for f in functions),
                "FunctionCount": len(functions),
            },
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)


_original_put = LambdaBackend.put_function_concurrency


def _put_function_concurrency(self: LambdaBackend, function_name: str, reserved_concurrency: str) -> str:
    refuse_reservation(self, self.get_function(function_name).function_name, reserved_concurrency)
    return _original_put(self, function_name, reserved_concurrency)


def install() -> None:
    """Add the GetAccountSettings route and the reservation check (idempotent)."""
    lambda_urls.url_paths[ACCOUNT_SETTINGS_PATH] = AccountSettingsResponse.handle
    LambdaBackend.put_function_concurrency = _put_function_concurrency  # type: ignore[method-assign]
