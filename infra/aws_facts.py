"""Facts about AWS itself that the platform's configuration, the preflight checks and the emulator's
account shapes share, each with the AWS page that states it, so that the three cannot drift."""

from __future__ import annotations

MIN_UNRESERVED_CONCURRENCY = 100
"""Lambda keeps this many of an account's concurrent executions in a region unreserved: "You can
reserve concurrency for as many functions as you like, as long as you leave at least 100
simultaneous executions unreserved for functions that aren't configured with a per-function limit"
(Lambda API reference, PutFunctionConcurrency:
https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html). A function's
`ReservedConcurrentExecutions` that would leave fewer is refused, so an account whose quota is 100
or less (a new account's can be 10) cannot reserve any."""


def reservation_problem(quota: int, reserved: int) -> str | None:
    """Why Lambda refuses to reserve `reserved` executions in total out of `quota`, or None."""
    if reserved <= 0 or quota - reserved >= MIN_UNRESERVED_CONCURRENCY:
        return None
    return (
        f"reserving {reserved} of {quota} concurrent executions leaves {quota - reserved} unreserved, "
        f"and Lambda keeps at least {MIN_UNRESERVED_CONCURRENCY} unreserved"
    )
