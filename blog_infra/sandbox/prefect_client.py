"""A Prefect client for the sandbox, run by the Python of an image's runtime (which has Prefect).

Run as `<runtime>/bin/python -I prefect_client.py COMMAND ARGS...` (isolated: this folder must not
shadow the standard library); prints one JSON document.
PREFECT_API_URL and PREFECT_API_AUTH_STRING come from the environment, as for any Prefect client.

- `unknown-settings NAME...`: the names that are no setting of Prefect, prefect-redis or prefect-aws.
- `submit POOL JOB_VARIABLES_JSON`: wait for the work pool, create a flow and a deployment on the
  pool with those job variables, and a flow run of it.
- `flow-run ID`: the flow run's state type and name.
- `validate-job-variables JSON`: the errors of prefect-aws's ECS worker variables model on them.
- `work-pool POOL`: the work pool's type and the defaults of its base job template's variables.

This file is never imported by blog-infra itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


def unknown_settings(names: list[str]) -> dict[str, Any]:
    from prefect.settings import Settings
    from prefect.settings.legacy import _get_valid_setting_names

    classes: list[Any] = [Settings]
    try:
        from prefect_redis.client import RedisMessagingSettings

        classes.append(RedisMessagingSettings)
    except ImportError:
        pass
    try:
        from prefect_redis.cleanup_queue import RedisWorkerCleanupQueueSettings

        classes.append(RedisWorkerCleanupQueueSettings)
    except ImportError:
        pass
    try:
        from prefect_aws.settings import AwsSettings

        classes.append(AwsSettings)
    except ImportError:
        pass
    valid: set[str] = set()
    for cls in classes:
        valid |= set(_get_valid_setting_names(cls))
    return {"unknown": sorted(name for name in names if name not in valid)}


def validate_job_variables(variables: dict[str, Any]) -> dict[str, Any]:
    from prefect_aws.workers.ecs_worker import ECSVariables
    from pydantic import ValidationError

    errors = [
        f"{key}: not a variable of the ECS worker"
        for key in variables
        if key not in ECSVariables.model_fields
    ]
    try:
        ECSVariables.model_validate(variables)
    except ValidationError as error:
        errors += [f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors()]
    return {"errors": errors}


async def submit(pool: str, job_variables: dict[str, Any]) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        work_pool = None
        for _ in range(120):
            try:
                work_pool = await client.read_work_pool(pool)
                break
            except ObjectNotFound:
                await asyncio.sleep(0.5)
        if work_pool is None:
            return {"error": f"work pool {pool!r} did not appear within 60 s"}
        flow_id = await client.create_flow_from_name("sandbox-conformance")
        deployment_id = await client.create_deployment(
            flow_id=flow_id,
            name="sandbox-conformance",
            work_pool_name=pool,
            job_variables=job_variables,
            entrypoint="flows.py:sandbox_conformance",
        )
        run = await client.create_flow_run_from_deployment(deployment_id)
        return {
            "flow_run_id": str(run.id),
            "work_pool_type": work_pool.type,
            "work_pool_id": str(work_pool.id),
        }


async def work_pool(pool: str) -> dict[str, Any]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        found = await client.read_work_pool(pool)
    properties = found.base_job_template["variables"]["properties"]
    return {
        "type": found.type,
        "defaults": {key: value["default"] for key, value in properties.items() if "default" in value},
    }


async def flow_run(run_id: str) -> dict[str, Any]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        run = await client.read_flow_run(run_id)
        state = run.state
        return {
            "state_type": state.type.value if state else None,
            "state_name": state.name if state else None,
            "message": state.message if state else None,
        }


def main(argv: list[str]) -> None:
    command, *rest = argv
    if command == "unknown-settings":
        result = unknown_settings(rest)
    elif command == "validate-job-variables":
        result = validate_job_variables(json.loads(rest[0]))
    elif command == "submit":
        result = asyncio.run(submit(rest[0], json.loads(rest[1])))
    elif command == "work-pool":
        result = asyncio.run(work_pool(rest[0]))
    elif command == "flow-run":
        result = asyncio.run(flow_run(rest[0]))
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
