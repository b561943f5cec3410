"""The environment configuration: valid files load; every bad value is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import ConfigError, Target, available_envs, load_config


def write_env(root: Path, name: str, body: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(body, encoding="utf-8")
    return root


MINIMAL = 'account_id = "210987654321"\ndomain = "rocketclub.online"\nbackstage = { image_tag = "1.2.3" }\n'


def test_shipped_environments_load() -> None:
    # GIVEN the committed environment files WHEN loaded THEN both validate with their own targets
    assert available_envs() == ["local", "prod"]
    prod, local = load_config("prod"), load_config("local")
    assert prod.target is Target.AWS and prod.domain == "rocketclub.online"
    assert local.target is Target.EMULATOR and local.account_id == "123456789012"
    assert prod.portal_host == "portal.rocketclub.online"
    assert prod.pipelines_host == "pipelines.rocketclub.online"
    assert prod.aurora.deletion_protection is True


def test_defaults_fill_what_the_file_omits(tmp_path: Path) -> None:
    envs = write_env(tmp_path, "staging", MINIMAL)
    config = load_config("staging", envs)
    assert config.name == "staging"
    assert config.region == "us-east-1"
    assert config.network.az_count == 2 and config.network.nat_gateways == 1
    assert config.aurora.min_capacity == 0.5 and config.aurora.max_capacity == 4
    assert config.ssm_prefix == "/blog/staging"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            'account_id = "12345"\ndomain = "rocketclub.online"\n',
            "account_id: must be a 12-digit AWS account id",
        ),
        (
            'account_id = 210987654321\ndomain = "rocketclub.online"\n',
            "account_id: Input should be a valid string",
        ),
        (MINIMAL + 'region = "us-nowhere-9"\n', "region: is not an AWS region"),
        (
            MINIMAL + "[aurora]\nmin_capacity = 8\nmax_capacity = 4\n",
            "aurora: min_capacity (8.0) must not exceed max_capacity (4.0)",
        ),
        (MINIMAL + "[aurora]\nmin_capacity = 0.3\n", "aurora.min_capacity: must be a multiple of 0.5 ACU"),
        (
            MINIMAL + "[aurora]\nbackup_retention_days = 0\n",
            "aurora.backup_retention_days: Input should be greater than or equal to 7",
        ),
        (MINIMAL + '[aurora]\nengine_version = "11.9"\n', "aurora.engine_version: must be one of"),
        (
            MINIMAL + "log_retention_days = -1\n",
            "log_retention_days: must be one of CloudWatch's retention periods",
        ),
        (
            MINIMAL + "[buckets]\ncached_expiration_days = 0\n",
            "buckets.cached_expiration_days: Input should be greater than 0",
        ),
        ('account_id = "210987654321"\ndomain = "not a host"\n', "domain: must be a lowercase DNS name"),
        ('account_id = "210987654321"\n', "domain: is required"),
        (
            MINIMAL + "[network]\naz_count = 2\nnat_gateways = 3\n",
            "network: nat_gateways (3) cannot exceed az_count (2)",
        ),
        (
            MINIMAL + '[network]\ncidr = "10.0.0.0/8"\n',
            "network.cidr: prefix length must be between /16 and /24",
        ),
        (MINIMAL + "nat_gateway = 1\n", "nat_gateway: is not a known setting"),
        (MINIMAL + 'target = "mars"\n', "target: Input should be 'emulator' or 'aws'"),
        (MINIMAL + 'name = "prod"\n', "name: is 'prod' but the file lives under 'staging'"),
        (MINIMAL + '[tags]\n"aws:owner" = "x"\n', "tags: tag key 'aws:owner' is not allowed"),
        ("account_id = \n", "not valid TOML"),
        (
            MINIMAL.replace("1.2.3", "latest"),
            "backstage.image_tag: 'latest' is refused for an AWS environment",
        ),
        (MINIMAL.replace("1.2.3", "a b"), "backstage.image_tag: must be a Docker image tag"),
        (MINIMAL + 'region = "eu-west-1"\n', "edge.certificate_arn: required when region is not us-east-1"),
        (
            MINIMAL + '[edge]\ncertificate_arn = "arn:aws:acm:eu-west-1:210987654321:certificate/x"\n',
            "edge.certificate_arn: must be an ACM certificate ARN in us-east-1",
        ),
        (
            MINIMAL + '[edge]\ncloudfront_prefix_list_id = "sg-123"\n',
            "edge.cloudfront_prefix_list_id: must be a managed",
        ),
        # The Prefect image is built from images/prefect/Dockerfile, not configured.
        (
            MINIMAL + '[prefect]\nimage = "prefecthq/prefect:3.9.1-python3.12"\n',
            "prefect.image: is not a known",
        ),
        (MINIMAL + "[prefect.server]\ncpu = 300\n", "prefect.server.cpu: must be a Fargate CPU size"),
        (
            MINIMAL + "[prefect.server]\nmin_capacity = 3\nmax_capacity = 2\n",
            "prefect.server: min_capacity (3) must not exceed max_capacity (2)",
        ),
        (
            MINIMAL + '[ork_processor]\ncode_bucket = "artifacts"\n',
            "ork_processor: code_bucket and code_key must be set together",
        ),
        (MINIMAL + '[circleci]\norg_id = "my-org"\n', "circleci.org_id: must be a lowercase UUID"),
        (
            MINIMAL + "[prefect]\nembedded_worker = true\nworkers = 1\n[prefect.server]\nmax_capacity = 1\n"
            "[prefect.worker_task]\nspot = true\n",
            "prefect: embedded_worker: worker_task.spot has no effect",
        ),
        (
            MINIMAL
            + "[prefect]\nembedded_worker = true\n[prefect.server]\nmax_capacity = 1\nmemory_mib = 2048\n"
            "[prefect.worker_task]\nmemory_mib = 1800\n",
            "must each be at least 512",
        ),
        (
            MINIMAL + '[vercel]\nenvironment = "staging"\n',
            "vercel.environment: must be production, preview or development",
        ),
    ],
)
def test_invalid_values_fail_with_one_line_naming_file_and_field(
    tmp_path: Path, body: str, expected: str
) -> None:
    # GIVEN a config file with one bad value
    envs = write_env(tmp_path, "staging", body)
    # WHEN it is loaded THEN a ConfigError names the file and the field in one line
    with pytest.raises(ConfigError) as caught:
        load_config("staging", envs)
    message = str(caught.value)
    assert expected in message
    assert "staging/config.toml" in message
    assert "\n" not in message


@pytest.mark.parametrize("env", ["nope", "../prod", "PROD", ""])
def test_unknown_environment_lists_the_known_ones(env: str) -> None:
    with pytest.raises(ConfigError, match=r"unknown environment .*expected one of local, prod"):
        load_config(env)


def test_placeholder_values_are_reported(tmp_path: Path) -> None:
    # GIVEN a file that still holds the stand-in account and CircleCI ids
    envs = write_env(tmp_path, "staging", MINIMAL.replace("210987654321", "111111111111"))
    # WHEN asked THEN each stand-in is named, so a deploy can refuse to run with them
    assert load_config("staging", envs).placeholders() == [
        "account_id",
        "circleci.org_id",
        "circleci.project_id",
    ]
    assert load_config("prod").placeholders()[0] == "account_id"


def test_by_default_no_lambda_reserves_concurrency(tmp_path: Path) -> None:
    # GIVEN an environment that says nothing of Lambda concurrency (as prod does)
    config = load_config("staging", write_env(tmp_path, "staging", MINIMAL))
    # WHEN loaded THEN it reserves none and plans for a new account's quota of 10
    assert config.lambda_concurrency.total == 0
    assert config.lambda_concurrency.account_quota == 10
    assert load_config("prod").lambda_concurrency.total == 0


def test_reservations_that_leave_less_than_100_unreserved_are_refused_in_one_line(tmp_path: Path) -> None:
    # GIVEN the reservations the platform used to make, in an account whose quota is still 10
    body = MINIMAL + "[lambda_concurrency]\naurora_bootstrap = 1\naurora_rotation = 3\nork_processor = 5\n"
    # WHEN loaded THEN it is refused, naming the numbers, the rule and the fix
    with pytest.raises(ConfigError) as refused:
        load_config("staging", write_env(tmp_path, "staging", body))
    message = str(refused.value)
    assert "\n" not in message
    assert "lambda_concurrency: reserving 9 of 10 concurrent executions leaves 1 unreserved" in message
    assert "at least 100 unreserved" in message and "set account_quota" in message
    # AND with a raised quota the same reservations load
    raised = body.replace("[lambda_concurrency]\n", "[lambda_concurrency]\naccount_quota = 1000\n")
    config = load_config("staging", write_env(tmp_path / "raised", "staging", raised))
    assert config.lambda_concurrency.total == 9


def test_zones_default_to_zone_ids_where_vpc_origins_are_offered(tmp_path: Path) -> None:
    # GIVEN environments that name no zones, in us-east-1 with two and three zones
    two = load_config("staging", write_env(tmp_path / "two", "staging", MINIMAL))
    three = load_config(
        "staging", write_env(tmp_path / "three", "staging", MINIMAL + "[network]\naz_count = 3\n")
    )
    # THEN the zones are chosen by id, skipping use1-az3, where CloudFront VPC origins are not offered
    assert two.zone_ids == ("use1-az1", "use1-az2")
    assert three.zone_ids == ("use1-az1", "use1-az2", "use1-az4")
    assert load_config("prod").zone_ids == ("use1-az1", "use1-az2")


@pytest.mark.parametrize(
    ("zones", "expected"),
    [
        ('["use1-az1", "use1-az3"]', "CloudFront VPC origins are not offered in use1-az3"),
        ('["us-east-1a", "us-east-1b"]', "us-east-1a, us-east-1b are not zone ids such as use1-az1"),
        ('["use1-az1"]', "zone_ids lists 1 zone and az_count is 2: make them agree"),
        (
            '["euw1-az1", "euw1-az2"]',
            "euw1-az1, euw1-az2 are not in us-east-1 \\(its zone ids start with use1-az\\)",
        ),
    ],
)
def test_chosen_zone_ids_are_checked_in_one_line(tmp_path: Path, zones: str, expected: str) -> None:
    # GIVEN zones chosen by id WHEN loaded THEN a bad choice is refused in one line naming it
    with pytest.raises(ConfigError, match=expected) as refused:
        load_config("staging", write_env(tmp_path, "staging", MINIMAL + f"[network]\nzone_ids = {zones}\n"))
    assert "\n" not in str(refused.value)
