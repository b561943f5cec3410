"""config: Prefect's Redis replicas and flow-run retention (issue 20)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.config import PrefectSettings, load_config


def test_the_standard_profile_gives_prod_a_redis_replica() -> None:
    # GIVEN prod, which selects the standard profile THEN its broker has one replica
    assert load_config("prod").prefect.redis_replicas == 1


def test_prod_under_lean_has_no_replica_to_configure() -> None:
    # GIVEN prod priced under the lean profile (no Redis) THEN it loads, without a replica
    config = load_config("prod", profile="lean")
    assert (config.prefect.embedded_services, config.prefect.redis_replicas) == (True, 0)


def test_defaults_keep_one_node_and_prefects_90_day_retention() -> None:
    settings = PrefectSettings()
    assert (settings.redis_replicas, settings.flow_run_retention_days) == (0, 90)


def test_embedded_services_with_redis_replicas_is_refused() -> None:
    with pytest.raises(ValidationError, match="embedded_services needs redis_replicas = 0"):
        PrefectSettings.model_validate(
            {"embedded_services": True, "redis_replicas": 1, "server": {"min_capacity": 1, "max_capacity": 1}}
        )


@pytest.mark.parametrize("replicas", [-1, 6])
def test_replicas_outside_elasticaches_range_are_refused(replicas: int) -> None:
    with pytest.raises(ValidationError, match="redis_replicas"):
        PrefectSettings.model_validate({"redis_replicas": replicas})
