"""Each preflight check against a real emulator and the local environment's real template: it
reports the problem in the account shape that has it, with the fix, and nothing on the default one."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from blog_infra import preflight
from emulator.shape import EmulatorShape
from infra.config import EnvConfig, load_config
from tests.preflight.conftest import target_of

pytestmark = pytest.mark.slow  # each check runs against emulators started with account shapes

Emulators = Callable[[EmulatorShape | None], Path]
MANIFEST = '{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}'


def test_an_ecr_image_whose_tag_was_never_pushed_is_a_problem_naming_what_to_push(
    local_config: EnvConfig, local_synthesized: dict[str, Any], emulators: Emulators
) -> None:
    # GIVEN the default emulator holding the portal's ECR repository, as after a first deploy, empty
    target = target_of(local_config, emulators(None))
    ecr = target.client("ecr")
    ecr.create_repository(repositoryName="blog-local-portal")
    account = preflight.Account(
        config=local_config,
        target=target,
        template=local_synthesized,
        deployed={"BackstageRepository": "blog-local-portal"},
    )
    # WHEN the images are checked
    problems = [f for f in preflight.check_images(account) if f.problem]
    # THEN the portal's image is a problem naming the repository and the tag to push
    tag = local_config.backstage.image_tag
    assert [p.message.split(" (")[0] for p in problems] == [
        f"image blog-local-portal:{tag} is not in ECR repository blog-local-portal"
    ]
    assert f"push 123456789012.dkr.ecr.us-east-1.amazonaws.com/blog-local-portal:{tag}" in problems[0].message
    # AND once that tag is pushed, nothing is a problem
    ecr.put_image(
        repositoryName="blog-local-portal",
        imageManifest=MANIFEST,
        imageTag=tag,
    )
    assert [f for f in preflight.check_images(account) if f.problem] == []


def test_images_from_a_public_registry_are_noted_and_a_repository_this_deploy_creates_too(
    local_config: EnvConfig, local_synthesized: dict[str, Any], emulators: Emulators
) -> None:
    # GIVEN the local template, with two containers' images put on public registries (the check reads
    # whatever the template holds), and the default emulator with nothing deployed
    template = copy.deepcopy(local_synthesized)
    definitions = [r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    definitions[0]["Properties"]["ContainerDefinitions"][0]["Image"] = "prefecthq/prefect:3.9.1-python3.12"
    definitions[1]["Properties"]["ContainerDefinitions"][0]["Image"] = "ghcr.io/rocketclub/portal:1.0.0"
    target = target_of(local_config, emulators(None))
    # WHEN the images are checked
    findings = preflight.check_images(
        preflight.Account(config=local_config, target=target, template=template)
    )
    # THEN none is a problem: the public images are noted with their registry, the ECR ones with the
    # repository that this deploy creates (and that holds no image yet)
    assert findings and not [f for f in findings if f.problem]
    public = sorted(
        f.message.split(" is pulled from the public registry ")[1].split(" ")[0]
        for f in findings
        if "public registry" in f.message
    )
    assert public == ["docker.io", "ghcr.io"]
    assert any("which this deploy creates empty" in f.message for f in findings)


def test_lambda_reservations_beyond_a_quota_of_10_are_a_problem_naming_the_fix(
    local_config: EnvConfig, local_synthesized: dict[str, Any], emulators: Emulators
) -> None:
    # GIVEN the local template (9 reserved executions) and an account whose Lambda quota is 10
    target = target_of(local_config, emulators(EmulatorShape(lambda_concurrency=10)))
    # WHEN the Lambda check reads the account
    report = preflight.run(local_config, target, local_synthesized, checks=["lambda-concurrency"])
    # THEN one problem: the numbers, the rule and both fixes
    (problem,) = report.problems
    assert problem.check == "lambda-concurrency"
    assert "Lambda reservations of 9" in problem.message
    assert "leave 1 of the account's 10 concurrent executions unreserved" in problem.message
    assert "set the lambda_concurrency reservations to 0 in infra/envs/local/config.toml" in problem.message
    assert "raise the quota to at least 109" in problem.message
    assert report.checks == (
        ("lambda-concurrency", "lambda:GetAccountSettings, lambda:GetFunctionConcurrency"),
    )


def test_lambda_reservations_pass_on_the_default_emulator(
    local_config: EnvConfig, local_synthesized: dict[str, Any], emulators: Emulators
) -> None:
    # GIVEN the default emulator (Lambda's default quota, 1000)
    target = target_of(local_config, emulators(None))
    # WHEN the Lambda check reads it THEN there is no problem
    assert target.client("lambda").get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert (
        preflight.run(local_config, target, local_synthesized, checks=["lambda-concurrency"]).problems == []
    )


def test_stand_in_ids_are_problems_naming_the_setting_and_real_ids_pass(prod_config: EnvConfig) -> None:
    # GIVEN prod as shipped (stand-in account and CircleCI ids)
    # WHEN its ids are checked THEN each stand-in is a problem naming the setting and where it lives
    messages = [f.message for f in preflight.stand_in_findings(prod_config)]
    assert messages == [
        "account_id in infra/envs/prod/config.toml is a stand-in value: set account_id to the AWS account "
        "the environment deploys to",
        "circleci.org_id in infra/envs/prod/config.toml is a stand-in value: set circleci.org_id to the "
        "organization id CircleCI shows in Organization Settings",
        "circleci.project_id in infra/envs/prod/config.toml is a stand-in value: set circleci.project_id to "
        "the project id CircleCI shows in Project Settings",
    ]
    # AND with the organisation's ids set, nothing
    real = prod_config.model_copy(
        update={
            "account_id": "210987654321",
            "circleci": prod_config.circleci.model_copy(
                update={
                    "org_id": "6f1c9a52-3b1e-4c55-9a77-0d2b8e4f1a90",
                    "project_id": "0c2d5e8f-7a41-4b6e-8d93-5f1a2b3c4d5e",
                }
            ),
        }
    )
    assert preflight.stand_in_findings(real) == []
    # AND the emulator never meets CircleCI
    assert preflight.stand_in_findings(load_config("local")) == []


def test_an_imported_certificate_that_does_not_exist_is_a_problem(
    local_config: EnvConfig, local_synthesized: dict[str, Any], emulators: Emulators
) -> None:
    # GIVEN an environment whose edge imports a certificate the account does not hold
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0e9a2f6c-1b1d-4c3f-9f7e-2a5b8c9d0e1f"
    config = local_config.model_copy(
        update={"edge": local_config.edge.model_copy(update={"certificate_arn": arn})}
    )
    target = target_of(config, emulators(None))
    # WHEN the certificate is checked
    findings = preflight.check_certificate(
        preflight.Account(config=config, target=target, template=local_synthesized)
    )
    # THEN it is a problem naming the certificate and both fixes
    assert [f.message for f in findings] == [
        f"certificate {arn} (edge.certificate_arn) does not exist in us-east-1: issue it in ACM there, or "
        "unset edge.certificate_arn in infra/envs/local/config.toml to let the deploy create one"
    ]
    # AND an edge that creates its own certificate (the shipped environments) has nothing to check
    assert local_config.edge.certificate_arn is None
    assert (
        preflight.check_certificate(
            preflight.Account(config=local_config, target=target, template=local_synthesized)
        )
        == []
    )


def test_preflight_failed_is_an_exit_code_of_its_own() -> None:
    from blog_infra.exit_codes import ExitCode

    assert ExitCode.PREFLIGHT_FAILED.value == 7
    assert len({code.value for code in ExitCode}) == len(ExitCode)


UNSUPPORTED_B = EmulatorShape(zone_ids={"us-east-1b": "use1-az3"})


def test_subnets_named_by_zone_name_on_a_zone_without_vpc_origins_are_a_problem(
    local_config: EnvConfig, local_synthesized: dict[str, Any], emulators: Emulators
) -> None:
    # GIVEN the local template with its subnets named by zone name, as the network named them before
    # zone ids (us-east-1a, us-east-1b), and an account whose us-east-1b is use1-az3
    by_name = copy.deepcopy(local_synthesized)
    for resource in by_name["Resources"].values():
        if resource["Type"] == "AWS::EC2::Subnet":
            number = "a" if resource["Properties"].pop("AvailabilityZoneId") == "use1-az1" else "b"
            resource["Properties"]["AvailabilityZone"] = f"us-east-1{number}"
    target = target_of(local_config, emulators(UNSUPPORTED_B))
    # WHEN the zones are checked
    report = preflight.run(local_config, target, by_name, checks=["zones"])
    # THEN the subnets of us-east-1b are a problem naming the zone id, the page and the fix
    (problem,) = report.problems
    assert problem.message.startswith("3 subnets (")
    assert (
        "are in zone use1-az3 (us-east-1b in this account), where CloudFront VPC origins are not offered"
        in (problem.message)
    )
    assert "choose other zone ids in network.zone_ids in infra/envs/local/config.toml" in problem.message
    assert report.checks == (("zones", "ec2:DescribeAvailabilityZones"),)


def test_the_local_template_by_zone_id_passes_in_both_accounts(
    local_config: EnvConfig, local_synthesized: dict[str, Any], emulators: Emulators
) -> None:
    # GIVEN the local template, its subnets on use1-az1 and use1-az2 by id
    # WHEN the zones are checked in the default account and in the one whose us-east-1b is use1-az3
    # THEN there is no problem in either: the ids are the same physical zones whatever the names
    for shape in (None, UNSUPPORTED_B):
        target = target_of(local_config, emulators(shape))
        assert preflight.run(local_config, target, local_synthesized, checks=["zones"]).problems == []


def test_a_zone_id_the_account_does_not_offer_is_a_problem_naming_the_offered_ones(
    local_config: EnvConfig, emulators: Emulators, tmp_path: Path
) -> None:
    from blog_infra.synthesis import synth

    # GIVEN local with a zone id the account does not offer (real synthesis)
    network = local_config.network.model_copy(update={"zone_ids": ("use1-az1", "use1-az9")})
    config = local_config.model_copy(update={"network": network})
    template = synth(config, tmp_path / "assembly", gates=False, validate=False).template()
    target = target_of(config, emulators(None))
    # WHEN the zones are checked THEN use1-az9 is a problem listing the zone ids that exist
    (problem,) = preflight.run(config, target, template, checks=["zones"]).problems
    assert "name zone use1-az9, which us-east-1 does not offer this account" in problem.message
    assert (
        "choose zone ids among use1-az1, use1-az2, use1-az3, use1-az4, use1-az5, use1-az6" in problem.message
    )
