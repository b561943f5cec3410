"""Fixes to moto's ECS on the path a Prefect ECS worker takes.

moto's `RunTask` adds up the containers' `memory` to place a task and fails with a TypeError (an
HTTP 500) when a container has none. Fargate task definitions carry memory at the task level, and a
container may then omit it (ECS: "for tasks hosted on Fargate, the memory parameter of a container
is optional"); prefect-aws registers exactly such task definitions. The replacement counts such a
container as 0, which changes nothing for task definitions moto already handled.
"""

from __future__ import annotations

from typing import Any

from moto.ecs import models as ecs_models

_original = ecs_models.EC2ContainerServiceBackend._calculate_task_resource_requirements


def _calculate_task_resource_requirements(task_definition: Any) -> dict[str, Any]:
    definitions = task_definition.container_definitions
    patched = []
    for definition in definitions:
        keys = ("Memory", "MemoryReservation", "memory", "memoryReservation")
        if not any(definition.get(key) is not None for key in keys):
            definition = {**definition, "memory": 0}
        patched.append(definition)
    task_definition.container_definitions = patched
    try:
        result: dict[str, Any] = _original(task_definition)
    finally:
        task_definition.container_definitions = definitions
    return result


def install() -> None:
    """Replace moto's resource accounting of RunTask (idempotent)."""
    ecs_models.EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(  # type: ignore[method-assign]
        _calculate_task_resource_requirements
    )
