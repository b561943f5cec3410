"""The rules the constructs and CDK enforce, refused by the configuration model first, and files that
cannot be read as TOML: every one a single line naming the file (and the field)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from infra.config import (
    FARGATE_TASK_SIZES,
    ConfigError,
    ServiceScaling,
    fargate_size_problem,
    load_config,
    subnet_layout_end,
)
from tests.unit.config.test_config import write_env

REPO_ROOT = Path(__file__).resolve().parents[3]
ROOT = 'account_id = "210987654321"\ndomain = "rocketclub.online"\n'


def body(root: str = "", tables: str = "") -> str:
    """A staging file: the root keys, then its tables (the portal pinned, as AWS needs)."""
    return ROOT + root + '[backstage]\nimage_tag = "1.2.3"\n' + tables


CERTIFICATE = "arn:aws:acm:us-east-1:210987654321:certificate/0e4f64a4-3b7a-4c6c-9a7e-5a3c1f1d2b10"


def refused(tmp_path: Path, body: str | bytes) -> str:
    folder = tmp_path / "staging"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "config.toml"
    target.write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
    with pytest.raises(ConfigError) as caught:
        load_config("staging", tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "staging/config.toml" in message
    return message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            body(tables="[backstage.scaling]\ncpu = 256\nmemory_mib = 4096\n"),
            "backstage.scaling: memory_mib 4096 does not fit cpu 256: Fargate takes 512, 1024 or 2048 MiB",
        ),
        (
            body(tables="[prefect.server]\ncpu = 4096\nmemory_mib = 9000\n"),
            "prefect.server: memory_mib 9000 does not fit cpu 4096: "
            "Fargate takes 8192-30720 MiB in steps of 1024",
        ),
        (
            body(tables="[prefect.worker_task]\ncpu = 256\nmemory_mib = 4096\n"),
            "prefect: worker_task: memory_mib 4096 does not fit cpu 256",
        ),
        (
            body(tables='[network]\ncidr = "10.0.0.0/21"\n'),
            "network: cidr 10.0.0.0/21 cannot hold the subnets of 2 zones (a /24 public, /22 application and "
            "/24 data subnet each): use a /20 or a shorter prefix",
        ),
        (
            body(tables='[network]\ncidr = "10.0.0.0/20"\naz_count = 3\n'),
            "network: cidr 10.0.0.0/20 cannot hold the subnets of 3 zones",
        ),
        (body('region = "cn-north-1"\n'), "region: is not an AWS region of the commercial `aws` partition"),
        (
            body('region = "eu-west-1"\n', f'[edge]\ncertificate_arn = "{CERTIFICATE}"\n'),
            "edge.cloudfront_prefix_list_id: pl-3b927c52 is the CloudFront origin-facing prefix list of "
            "us-east-1",
        ),
        (
            body().replace(
                "rocketclub.online", "a-domain-just-long-enough-to-overflow-a-certificate-name.org"
            ),
            "domain: portal.a-domain-just-long-enough-to-overflow-a-certificate-name.org is 67 characters",
        ),
        (body().replace("rocketclub.online", "rocket.-club.online"), "domain: must be a lowercase DNS name"),
        (
            body().replace("rocketclub.online", ".".join(["a" * 60] * 4) + ".online"),
            "domain: is too long: pipelines.",
        ),
        (
            body(tables='[circleci]\nmain_branch = "release/*"\n'),
            "circleci.main_branch: must be a plain branch",
        ),
        (body(tables='[vercel]\nteam_slug = "rocketclub-"\n'), "vercel.team_slug: must be a Vercel slug"),
        (
            body(tables='[ork_processor]\ncode_bucket = "Artifacts_!"\ncode_key = "ork.zip"\n'),
            "ork_processor.code_bucket: must be an S3 bucket name",
        ),
        (
            body(tables='[ork_processor]\ncode_bucket = "192.168.1.1"\ncode_key = "ork.zip"\n'),
            "ork_processor.code_bucket: must be an S3 bucket name",
        ),
        (
            body(tables='[ork_processor]\ncode_bucket = "artifacts"\ncode_key = "ork.tar.gz"\n'),
            "ork_processor.code_key: must be the S3 key of a .zip archive",
        ),
        (
            body(
                tables='[ork_processor]\ncode_bucket = "artifacts"\ncode_key = "ork.zip"\n'
                'code_version = " "\n'
            ),
            "ork_processor.code_version: must be the archive's S3 version id",
        ),
        (
            body(tables='[ork_processor]\nhandler = "handler"\n'),
            "ork_processor.handler: must be a dotted Python name",
        ),
        (body('owner = "équipe"\n'), "owner: must be at most 255 ASCII letters"),
        (body(f'repository = "{"r" * 256}"\n'), "repository: must be at most 255 ASCII letters"),
        (body(tables='[tags]\ncost-centre = "r&d"\n'), "tags: tag 'cost-centre': its value must be"),
        (
            body(tables="[tags]\n" + "".join(f't{i} = "x"\n' for i in range(47))),
            "tags: 47 tags: resources take at most 50 and the platform sets 4",
        ),
        (
            body(tables="[buckets]\ncached_expiration_days = 2147483648\n"),
            "buckets.cached_expiration_days: Input should be less than or equal to 2147483647",
        ),
    ],
)
def test_a_construct_rule_broken_in_the_file_is_one_line_naming_the_field(
    tmp_path: Path, body: str, expected: str
) -> None:
    # GIVEN a file that breaks a rule a construct or CDK would otherwise enforce inside the synthesis
    # WHEN it is loaded THEN the model refuses it in one line naming the file and the field
    assert expected in refused(tmp_path, body)


def test_the_edge_values_of_those_rules_are_accepted(tmp_path: Path) -> None:
    # GIVEN values exactly at the limits of the rules above WHEN loaded THEN they are accepted
    text = (
        ROOT.replace("rocketclub.online", "d" * 50 + ".online")
        + 'owner = "Platform team: ops/infra@rocket_club+1 = x"\n'
        + '[backstage]\nimage_tag = "1.2.3"\n'
        + '[network]\ncidr = "10.0.0.0/19"\naz_count = 3\n'
        + '[circleci]\nmain_branch = "release/2.x"\n'
        + "[prefect.worker_task]\ncpu = 256\nmemory_mib = 512\n"
        + '[ork_processor]\ncode_bucket = "Legacy.Bucket_1"\ncode_key = "ork/1.0.zip"\ncode_version = "v1"\n'
        + "[tags]\n"
        + "".join(f't{i} = "{"v" * 255}"\n' for i in range(46))
    )
    config = load_config("staging", write_env(tmp_path, "staging", text))
    assert len(config.portal_host) == 64
    assert config.prefect.worker_task.memory_mib == 512


def test_every_fargate_size_and_its_neighbours() -> None:
    # GIVEN each CPU size's memory values WHEN each is checked THEN exactly the table's values pass
    for cpu, allowed in FARGATE_TASK_SIZES.items():
        for memory in allowed:
            assert fargate_size_problem(cpu, memory) is None
            ServiceScaling.model_validate({"cpu": cpu, "memory_mib": memory})
        step = allowed[1] - allowed[0]
        for memory in (allowed[0] - step, allowed[-1] + step, allowed[0] + step // 2):
            assert fargate_size_problem(cpu, memory), (cpu, memory)


def test_the_construct_accepts_exactly_what_the_model_accepts() -> None:
    from infra.modules.apps.ecs_common import validate_fargate_size

    validate_fargate_size(256, 512, what="test")  # AWS's smallest task, once refused by the construct
    for cpu, allowed in FARGATE_TASK_SIZES.items():
        step = allowed[1] - allowed[0]
        for memory in allowed:
            validate_fargate_size(cpu, memory, what="test")
        for memory in (allowed[0] - step, allowed[-1] + step):
            with pytest.raises(ValueError):
                validate_fargate_size(cpu, memory, what="test")
    with pytest.raises(ValueError):
        validate_fargate_size(3072, 8192, what="test")


@pytest.mark.parametrize(("az_count", "widest"), [(2, 20), (3, 19)])
def test_the_subnet_layout_matches_what_cdk_allocates(az_count: int, widest: int) -> None:
    # GIVEN the network module and the widest prefix the model accepts for the number of zones
    from aws_cdk.assertions import Template

    from infra.modules.core.network.construct import Network, NetworkProps
    from tests.unit.helpers import new_stack

    zones = tuple(f"use1-az{n}" for n in range(1, az_count + 1))
    stack = new_stack()
    # WHEN CDK lays out the subnets in that CIDR THEN the last one ends where the model computed
    Network(stack, "Network", props=NetworkProps(zone_ids=zones, cidr=f"10.0.0.0/{widest}"))
    import ipaddress

    ends = [
        int(ipaddress.IPv4Network(subnet["Properties"]["CidrBlock"]).broadcast_address)
        for subnet in Template.from_stack(stack).find_resources("AWS::EC2::Subnet").values()
    ]
    assert max(ends) == subnet_layout_end(f"10.0.0.0/{widest}", az_count)
    assert subnet_layout_end(f"10.0.0.0/{widest + 1}", az_count) > int(
        ipaddress.IPv4Network(f"10.0.0.0/{widest + 1}").broadcast_address
    )
    # AND CDK itself refuses the next longer prefix, as the model does
    with pytest.raises(RuntimeError, match="exceeds remaining space"):
        Network(
            new_stack(),
            "Network",
            props=NetworkProps(zone_ids=zones, cidr=f"10.0.0.0/{widest + 1}"),
        )


def test_a_file_that_is_not_utf8_is_refused_naming_the_file_and_line(tmp_path: Path) -> None:
    message = refused(tmp_path, b'account_id = "210987654321"\ndomain = "caf\xe9.online"\n')
    assert "is not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8" in message


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    assert "not valid TOML" in refused(tmp_path, b"\x00\x01 binary")


def test_a_directory_in_place_of_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "staging" / "config.toml").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"staging/config\.toml: is a directory, not a file"):
        load_config("staging", tmp_path)


def test_a_profile_that_is_not_utf8_is_refused_naming_the_profile(tmp_path: Path) -> None:
    write_env(tmp_path, "staging", body('profile = "lean"\n'))
    (tmp_path / "_profiles").mkdir()
    (tmp_path / "_profiles" / "lean.toml").write_bytes(b"[aurora]\n# \xff\n")
    with pytest.raises(ConfigError, match=r"_profiles/lean\.toml: is not UTF-8 text"):
        load_config("staging", tmp_path)


@pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists(), reason="needs root and setpriv"
)
def test_an_unreadable_file_is_refused_naming_the_file() -> None:
    # GIVEN a config file its reader may not read (root reads anything: the loader runs as nobody)
    with tempfile.TemporaryDirectory(dir="/tmp") as root:
        Path(root).chmod(0o755)
        write_env(Path(root), "staging", body()).joinpath("staging", "config.toml").chmod(0o000)
        code = (
            "from pathlib import Path; from infra.config import load_config; "
            f"load_config('staging', Path({root!r}))"
        )
        # WHEN it is loaded THEN one line names the file and the reason
        result = subprocess.run(
            [
                "/usr/bin/setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                sys.executable,
                "-c",
                code,
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("infra.config.ConfigError: ")
    assert "staging/config.toml: cannot be read (Permission denied)" in last
