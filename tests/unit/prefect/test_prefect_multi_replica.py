"""apps/prefect: the settings that make several API replicas and one services task act as one Prefect for
months (issue 20): the shared cleanup queue, the vacuum, the pools, keep-alive, CORS, cancellation and the
work pool's task-definition reuse; in the standard (separate services, Redis) and lean (embedded) shapes."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Duration
from aws_cdk.assertions import Template

from infra.aws_facts import aurora_postgres_max_connections
from infra.modules.apps.prefect.construct import (
    API_KEEPALIVE_TIMEOUT_SECONDS,
    DATABASE_CONNECTION_SHARE,
    LATE_RUN_LOG_TERM,
    LOGGING_STEP,
    Prefect,
    database_pools,
)
from tests.unit.prefect.test_prefect import (
    LEAN_SERVER_MEMORY,
    LEAN_WORKER_MEMORY,
    Deps,
    environment,
    new_deps,
    props,
    script,
    secret_sources,
)

PUBLIC_URL = "https://pipelines.rocketclub.online"
CLEANUP_CONNECTION = ("HOST", "PORT", "DB", "SSL")


def _containers(template: Template) -> dict[str, dict[str, Any]]:
    return {
        container["Name"]: container
        for definition in template.find_resources("AWS::ECS::TaskDefinition").values()
        for container in definition["Properties"]["ContainerDefinitions"]
    }


@pytest.fixture(scope="module")
def standard_built() -> tuple[Template, Prefect]:
    # GIVEN the standard profile at prod's shape: two API replicas, the services task, Redis, 8 ACU database
    deps = new_deps()
    prefect = Prefect(
        deps.stack,
        "Prefect",
        props=props(
            deps, api_max_capacity=2, database_max_connections=aurora_postgres_max_connections(0.5, 8)
        ),
    )
    return Template.from_stack(deps.stack), prefect


@pytest.fixture(scope="module")
def standard(standard_built: tuple[Template, Prefect]) -> dict[str, dict[str, Any]]:
    return _containers(standard_built[0])


@pytest.fixture(scope="module")
def lean_built() -> tuple[Template, Prefect]:
    # GIVEN the lean profile: everything embedded in one API task, a database that auto-pauses
    deps = new_deps()
    prefect = Prefect(
        deps.stack,
        "Prefect",
        props=props(
            deps,
            server_cpu=512,
            server_memory_mib=LEAN_SERVER_MEMORY,
            worker_memory_mib=LEAN_WORKER_MEMORY,
            api_max_capacity=1,
            embedded_services=True,
            embedded_worker=True,
            database_auto_pauses=True,
        ),
    )
    return Template.from_stack(deps.stack), prefect


@pytest.fixture(scope="module")
def lean(lean_built: tuple[Template, Prefect]) -> dict[str, dict[str, Any]]:
    return _containers(lean_built[0])


# --- 1. worker cleanup queue -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["api", "services"])
def test_standard_api_and_services_share_the_redis_cleanup_queue(
    standard: dict[str, dict[str, Any]], name: str
) -> None:
    # WHEN the API replicas and the services task are configured
    env = environment(standard[name])
    # THEN both use prefect-redis's cleanup queue (the services enqueue, any API replica delivers)
    assert env["PREFECT_SERVER_WORKER_CHANNEL_CLEANUP_QUEUE_STORAGE"] == "prefect_redis.cleanup_queue"
    # AND it reaches the same TLS Redis as the messaging, through its own settings
    for suffix in CLEANUP_CONNECTION:
        assert env[f"PREFECT_REDIS_WORKER_CLEANUP_QUEUE_{suffix}"] == env[f"PREFECT_REDIS_MESSAGING_{suffix}"]
    assert env["PREFECT_REDIS_WORKER_CLEANUP_QUEUE_SSL"] == "true"


@pytest.mark.parametrize("name", ["api", "services"])
def test_standard_cleanup_queue_password_is_the_redis_auth_secret_never_plain(
    standard: dict[str, dict[str, Any]], name: str
) -> None:
    container = standard[name]
    # THEN the password is an ECS secret, the whole Redis auth secret, like the messaging password
    sources = secret_sources(container)
    logical, field = sources["PREFECT_REDIS_WORKER_CLEANUP_QUEUE_PASSWORD"]
    assert logical.startswith("PrefectRedisAuthSecret") and field is None
    assert (
        sources["PREFECT_REDIS_WORKER_CLEANUP_QUEUE_PASSWORD"] == sources["PREFECT_REDIS_MESSAGING_PASSWORD"]
    )
    # AND never in the plain environment
    assert "PREFECT_REDIS_WORKER_CLEANUP_QUEUE_PASSWORD" not in environment(container)
    assert "PREFECT_REDIS_WORKER_CLEANUP_QUEUE_URL" not in environment(container)


def test_lean_keeps_the_in_memory_cleanup_queue_of_its_single_process(
    lean: dict[str, dict[str, Any]],
) -> None:
    env = environment(lean["api"])
    assert not [name for name in env if "CLEANUP_QUEUE" in name]
    assert not [item["Name"] for item in lean["api"]["Secrets"] if "REDIS" in item["Name"]]


# --- 3. database vacuum ------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "name"), [("standard", "services"), ("lean", "api")])
def test_the_process_running_the_services_vacuums_old_flow_runs_and_events(
    request: pytest.FixtureRequest, shape: str, name: str
) -> None:
    env = environment(request.getfixturevalue(shape)[name])
    assert set(env["PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED"].split(",")) == {"events", "flow_runs"}
    # AND flow runs go 90 days after they end (Prefect's default, the platform's log retention)
    assert env["PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD"] == str(90 * 86400)


def test_the_standard_api_leaves_the_vacuum_to_the_services_task(standard: dict[str, dict[str, Any]]) -> None:
    assert "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED" not in environment(standard["api"])


def test_the_retention_is_a_prop() -> None:
    # GIVEN a 30-day retention
    deps = new_deps()
    Prefect(deps.stack, "Prefect", props=props(deps, flow_run_retention=Duration.days(30)))
    # THEN the services task vacuums flow runs after 30 days
    env = environment(_containers(Template.from_stack(deps.stack))["services"])
    assert env["PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD"] == str(30 * 86400)


# --- 4. pools and application_name -------------------------------------------------------------------


def test_each_standard_process_names_its_connections_and_sizes_its_pool(
    standard_built: tuple[Template, Prefect], standard: dict[str, dict[str, Any]]
) -> None:
    pools = {pool.application_name: pool for pool in standard_built[1].database_pools}
    assert set(pools) == {"prefect-api", "prefect-services"}
    for name, application_name in (("api", "prefect-api"), ("services", "prefect-services")):
        env = environment(standard[name])
        assert env["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_APPLICATION_NAME"] == application_name
        assert env["PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE"] == str(pools[application_name].pool_size)
        assert env["PREFECT_SERVER_DATABASE_SQLALCHEMY_MAX_OVERFLOW"] == str(
            pools[application_name].max_overflow
        )


def test_prods_pools_at_the_apis_maximum_scale_fit_in_its_share_of_max_connections(
    standard_built: tuple[Template, Prefect],
) -> None:
    # GIVEN prod's 8 ACU maximum: Aurora PostgreSQL's max_connections is 1,669
    pools = standard_built[1].database_pools
    # THEN the API pool counts every replica the autoscaling may start
    api = next(pool for pool in pools if pool.application_name == "prefect-api")
    assert api.processes == 2
    # AND the pools together stay within Prefect's share of max_connections
    assert sum(pool.total for pool in pools) == 2 * 30 + 40
    assert sum(pool.total for pool in pools) <= 1669 * DATABASE_CONNECTION_SHARE


def test_pools_shrink_together_on_a_small_database(validation_deps: Deps) -> None:
    # GIVEN a 1 ACU database (189 connections, 94 for Prefect) and ten API replicas
    pools = database_pools(props(validation_deps, api_max_capacity=10, database_max_connections=189))
    # THEN every process keeps a usable pool and the total fits the share
    assert sum(pool.total for pool in pools) <= 94
    assert min(pool.per_process for pool in pools) >= 5


def test_a_database_too_small_for_the_pools_is_refused(validation_deps: Deps) -> None:
    with pytest.raises(ValueError, match="database_max_connections 40 leaves the prefect-api processes"):
        Prefect(
            validation_deps.stack,
            "TooSmall",
            props=props(validation_deps, api_max_capacity=10, database_max_connections=40),
        )


def test_the_lean_process_is_named_and_sized_as_one(
    lean_built: tuple[Template, Prefect], lean: dict[str, dict[str, Any]]
) -> None:
    [pool] = lean_built[1].database_pools
    env = environment(lean["api"])
    assert env["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_APPLICATION_NAME"] == "prefect-server"
    assert (
        env["PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE"],
        env["PREFECT_SERVER_DATABASE_SQLALCHEMY_MAX_OVERFLOW"],
    ) == (
        str(pool.pool_size),
        str(pool.max_overflow),
    )


# --- 5. keep-alive and CORS --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["standard", "lean"])
def test_the_api_keeps_idle_connections_longer_than_the_load_balancer(
    request: pytest.FixtureRequest, shape: str
) -> None:
    env = environment(request.getfixturevalue(shape)["api"])
    # THEN uvicorn outlives the ALB's default 60 s idle timeout
    assert int(env["PREFECT_SERVER_API_KEEPALIVE_TIMEOUT"]) == API_KEEPALIVE_TIMEOUT_SECONDS > 60
    # AND only the public origin may call the API from a browser
    assert env["PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS"] == PUBLIC_URL


# --- 6. task-definition churn ------------------------------------------------------------------------


def test_the_work_pool_reuses_the_latest_equal_task_definition_revision(
    standard_built: tuple[Template, Prefect], lean_built: tuple[Template, Prefect]
) -> None:
    for _, prefect in (standard_built, lean_built):
        assert prefect.work_pool_job_variables["match_latest_revision_in_family"] is True


# --- 7. smaller ----------------------------------------------------------------------------------------


def test_services_links_point_at_the_public_ui(standard: dict[str, dict[str, Any]]) -> None:
    assert environment(standard["services"])["PREFECT_UI_URL"] == PUBLIC_URL


@pytest.mark.parametrize("shape", ["standard", "lean"])
def test_the_worker_stops_the_task_of_a_run_cancelled_while_pending(
    request: pytest.FixtureRequest, shape: str
) -> None:
    assert (
        environment(request.getfixturevalue(shape)["worker"])["PREFECT_WORKER_ENABLE_CANCELLATION"] == "true"
    )


def test_a_pausing_database_gets_time_to_resume(lean: dict[str, dict[str, Any]]) -> None:
    # THEN the lean server waits longer than Aurora's ~15-30 s resume for its first connection
    assert float(environment(lean["api"])["PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT"]) > 30


def test_a_database_that_never_pauses_keeps_prefects_connection_timeout(
    standard: dict[str, dict[str, Any]],
) -> None:
    assert "PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT" not in environment(standard["api"])


def test_a_retention_of_an_hour_or_less_is_refused(validation_deps: Deps) -> None:
    with pytest.raises(ValueError, match="flow_run_retention must exceed one hour"):
        Prefect(
            validation_deps.stack,
            "ShortRetention",
            props=props(validation_deps, flow_run_retention=Duration.hours(1)),
        )


@pytest.fixture(scope="module")
def validation_deps() -> Deps:
    return new_deps()


# --- the late-runs signal -----------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "name"), [("standard", "services"), ("lean", "api")])
def test_the_process_running_the_services_logs_dockets_late_run_tasks(
    request: pytest.FixtureRequest, shape: str, name: str
) -> None:
    # THEN before it starts, it writes Prefect's logging.yml with docket.worker at INFO to $PREFECT_HOME
    command = script(request.getfixturevalue(shape)[name])
    assert LOGGING_STEP in command
    assert '"$PREFECT_HOME/logging.yml"' in LOGGING_STEP and '"docket.worker"' in LOGGING_STEP
    assert command.index(LOGGING_STEP) < command.index("exec prefect server")


def test_the_standard_api_keeps_prefects_logging(standard: dict[str, dict[str, Any]]) -> None:
    assert LOGGING_STEP not in script(standard["api"])


def test_the_late_runs_pattern_matches_dockets_line(standard_built: tuple[Template, Prefect]) -> None:
    assert standard_built[1].late_runs_filter_pattern.log_pattern_string == f'"{LATE_RUN_LOG_TERM}"'
