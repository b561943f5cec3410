"""Synthesis of one environment into its own cloud assembly under `cdk.out/<env>`."""

from __future__ import annotations

import errno
import json
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blog_infra import assembly_cache, paths
from blog_infra.errors import BadInput, CliError
from infra.config import EnvConfig


@dataclass(frozen=True)
class Assembly:
    directory: Path
    stack_name: str
    cached: bool = False
    """Copied from the assembly cache (`blog_infra.assembly_cache`): the inputs were unchanged."""

    @property
    def template_path(self) -> Path:
        return self.directory / f"{self.stack_name}.template.json"

    def template(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.template_path.read_text(encoding="utf-8"))
        return result


def synth(
    config: EnvConfig, outdir: Path | None = None, *, gates: bool = True, validate: bool = True
) -> Assembly:
    """Synthesize `config`'s root stack in this process (the CDK CLI then deploys the assembly).

    With `gates` (always, for what is deployed) cdk-nag and the Control Tower controls run on the
    templates, and any finding that `infra/acknowledgements.toml` does not acknowledge stops here.
    Without them, `validate=False` also skips CDK's own template rules: the fastest synthesis, for
    planning only (the template is the same).

    The assembly is written to a fresh directory next to `outdir` and moved into place only when the
    synthesis succeeded: a failed one leaves `outdir` as it was, never half written.

    When every input is unchanged since an earlier synthesis (`assembly_cache.input_key`), its
    assembly is copied from the cache instead: a gated one (its gates passed) serves any call, a
    plain one only calls that run no gates. A successful synthesis is stored for the next call.
    """
    directory = outdir or paths.cdk_out(config.name)
    directory.parent.mkdir(parents=True, exist_ok=True)
    key = assembly_cache.input_key(config.name, config.model_dump_json())
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        entry = _cached(config.name, key, gates=gates, validate=validate)
        content = staging / "assembly"
        if entry is not None and assembly_cache.copy_out(entry, content):
            move_into_place(content, directory)
            return Assembly(directory=directory, stack_name=entry.stack_name, cached=True)
        content.mkdir()
        with synthesis_errors_reported(config.stack_name, content):
            stack_name = _synthesize(config, content, gates=gates, validate=validate)
        kind = assembly_cache.Kind.GATED if gates else assembly_cache.Kind.PLAIN
        assembly_cache.store(config.name, key, kind, content, stack_name, {"validated": gates or validate})
        move_into_place(content, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Assembly(directory=directory, stack_name=stack_name)


def _cached(env: str, key: str, *, gates: bool, validate: bool) -> assembly_cache.Entry | None:
    """The cache entry that may stand for this synthesis: gated for a gated one; for a plain one, a
    gated entry or a plain one made with at least the validation asked for."""
    if gates:
        return assembly_cache.lookup(env, key, [assembly_cache.Kind.GATED])
    entry = assembly_cache.lookup(env, key, [assembly_cache.Kind.GATED, assembly_cache.Kind.PLAIN])
    if entry is not None and validate and not entry.meta.get("validated", False):
        return None
    return entry


def _synthesize(config: EnvConfig, outdir: Path, *, gates: bool, validate: bool) -> str:
    from blog_infra.gates.synthesized import quiet_kernel_stderr

    if gates:
        from blog_infra.gates.synthesized import refuse_failing, synth_with_gates

        return refuse_failing(synth_with_gates(config, outdir)).assembly.stack_name

    from infra.app import build_app
    from infra.gates import AcknowledgementError

    try:
        app, stack = build_app(config, outdir=str(outdir), validate=validate)
    except AcknowledgementError as exc:
        raise BadInput(str(exc)) from None
    # CDK prints its validation report on stderr: kept back, so that a failure is one line, and
    # shown as before when the synthesis succeeds.
    with quiet_kernel_stderr() as printed:
        app.synth()
    sys.stderr.write(printed.buffer.getvalue().decode("utf-8", "replace"))
    return stack.stack_name


MOVE_ATTEMPTS = 50
"""How often `move_into_place` tries again when another command's assembly lands in between."""


def move_into_place(staging: Path, directory: Path) -> None:
    """Make the complete assembly at `staging` the one at `directory`, by renames only: a reader sees
    the old assembly, no assembly, or the new one, never a mix. Two commands writing the same
    environment at once (two terminals) may each put theirs in place; the last one stays, and neither
    fails: when the other's lands between our two renames, we move it aside and try again."""
    for _ in range(MOVE_ATTEMPTS):
        previous = directory.with_name(f".{directory.name}-replaced-{uuid.uuid4().hex[:8]}")
        with suppress(FileNotFoundError):
            directory.rename(previous)
        try:
            staging.rename(directory)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                shutil.rmtree(previous, ignore_errors=True)
                continue
            with suppress(OSError):
                previous.rename(directory)  # put the previous assembly back
            raise
        shutil.rmtree(previous, ignore_errors=True)
        return
    raise CliError(f"{directory} kept being replaced by other commands; run this one again alone")


@contextmanager
def synthesis_errors_reported(stack_name: str, outdir: Path) -> Iterator[None]:
    """Turn any exception that escapes the synthesis of `stack_name` into a one-line `CliError`
    saying where it came from (`infra.failure.describe_failure`); errors that already explain
    themselves (`CliError`) pass through unchanged."""
    from infra.failure import describe_failure

    try:
        yield
    except CliError:
        raise
    except Exception as exc:
        raise CliError(f"synthesis of {stack_name} failed {describe_failure(exc, outdir)}") from None
