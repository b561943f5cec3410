"""Exit codes of `blog-infra`, so that scripts and CI can tell outcomes apart."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Done; for `diff`, no changes."""
    FAILED = 1
    """The operation ran and failed (a deploy rolled back, the CDK CLI failed)."""
    BAD_INPUT = 2
    """Invalid configuration, arguments, credentials or account; nothing was changed."""
    CHANGES = 3
    """`diff`: there are changes."""
    REFUSED = 4
    """A dangerous change (replacing or deleting a stateful resource) was refused."""
    UNAVAILABLE = 5
    """The target (emulator or AWS) could not be reached, or the stack is not deployed; for `verify`,
    a check could not be made."""
    DRIFT = 6
    """`verify`, `dns check`: the live resources differ from the code."""
    PREFLIGHT_FAILED = 7
    """`preflight`, `deploy`: the target account has something that would make the deploy fail (an
    image missing from ECR, a Lambda quota too low, a stand-in id, ...); nothing was changed."""
