"""Every contract entry is readable by each consumer it names, with that consumer's role; and no role
reads a secret or a bucket that the ownership map does not give it.

The synthesized policies (identity, bucket, KMS key) are resolved to concrete ARNs for a fixed account
and region (`infra.cfn_intrinsics`) and decided by AWS's evaluation logic (`aws_policy.evaluation`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from aws_policy.evaluation import Decision
from infra.cfn_intrinsics import Place
from infra.contract import CONSUMER_ROLES, ContractValue
from infra.ownership import READ_ACCESS
from infra.template_access import Step, TemplateAccess, allowed

# Walks every contract entry through the IAM evaluator over both whole templates: seconds, so out of
# make test-fast (make test runs it).
pytestmark = pytest.mark.slow

ENVIRONMENTS = ("prod", "local")


@dataclass(frozen=True)
class Platform:
    name: str
    template: dict[str, Any]
    contract: tuple[ContractValue, ...]
    ssm_prefix: str
    place: Place

    def access(self, template: dict[str, Any] | None = None) -> TemplateAccess:
        return TemplateAccess(template or self.template, self.place)


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def platform(
    request: pytest.FixtureRequest, synthesized_stacks: dict[str, Any], synthesized: dict[str, Any]
) -> Platform:
    stack = synthesized_stacks[request.param]
    config = stack.config
    return Platform(
        config.name,
        synthesized[request.param].to_json(),
        tuple(stack.contract.values),
        stack.contract.ssm_prefix,
        Place(account=config.account_id, region=config.region, stack_name=config.stack_name),
    )


def contract_failures(platform: Platform, access: TemplateAccess) -> Iterator[str]:
    """One line per (entry, consumer, role) whose read is refused, naming the refused call."""
    parameters = access.parameters()
    for entry in platform.contract:
        name = f"{platform.ssm_prefix}/{entry.path}"
        target = access.target_of(parameters[name])
        prefixes = dict(entry.object_prefixes)
        for consumer in entry.consumers:
            if consumer not in CONSUMER_ROLES:
                yield f"{entry.path}: consumer {consumer} has no role in CONSUMER_ROLES"
                continue
            for role_key in CONSUMER_ROLES[consumer]:
                role = access.roles[role_key]
                steps: list[Step] = access.read_parameter(role, name)
                if target and target[0] == "secret":
                    steps += access.read_secret(role, target[1])
                elif target:
                    steps += access.read_bucket(role, target[1], prefixes.get(consumer))
                for step in steps:
                    if step.decision is not Decision.ALLOW:
                        yield f"{platform.name} {entry.path}: {consumer} ({role_key}) refused {step}"


def unexpected_readers(access: TemplateAccess) -> Iterator[str]:
    """Roles that can read a secret or a bucket's objects without the ownership map giving them it."""
    declared = {item.resource: set(item.readers) for item in READ_ACCESS}
    for secret in access.secrets():
        for key, role in access.roles.items():
            if allowed(access.read_secret(role, secret)) and key not in declared.get(secret, set()):
                yield f"{key} can read secret {secret}"
    for bucket in access.buckets():
        for key, role in access.roles.items():
            sample = access.can_read_any_object(role, bucket)
            if sample is not None and key not in declared.get(bucket, set()):
                yield f"{key} can read {bucket}/{sample}"


def test_every_consumer_can_read_every_entry_that_names_it(platform: Platform) -> None:
    # GIVEN the contract, each consumer's role and the synthesized policies
    # WHEN each consumer reads each entry naming it (the parameter, then its secret or bucket)
    failures = list(contract_failures(platform, platform.access()))
    # THEN nothing is refused
    assert failures == []


def test_no_role_reads_a_secret_or_bucket_the_ownership_map_does_not_give_it(platform: Platform) -> None:
    assert list(unexpected_readers(platform.access())) == []


def test_every_secret_and_bucket_is_in_the_ownership_map_and_every_declared_reader_can_read(
    platform: Platform,
) -> None:
    access = platform.access()
    declared = {item.resource: item.readers for item in READ_ACCESS}
    assert sorted(set(access.secrets()) | set(access.buckets())) == sorted(declared)
    stale = [
        f"{resource}: {key}"
        for resource, readers in declared.items()
        for key in readers
        if key in access.roles  # local runs Prefect without some services: their roles do not exist
        and not (
            allowed(access.read_secret(access.roles[key], resource))
            if resource in access.secrets()
            else access.can_read_any_object(access.roles[key], resource) is not None
        )
    ]
    # A reader the map names but that cannot read is a grant that was removed: update the map.
    assert stale == []


def test_the_public_frontend_reads_its_own_secrets_and_not_the_pipelines(platform: Platform) -> None:
    access = platform.access()
    frontend = access.roles["frontend"]
    assert allowed(access.read_secret(frontend, "FrontendNeo4jAuraSecret"))
    assert allowed(access.read_secret(frontend, "FrontendCloudinarySecret"))
    for secret in ("Neo4jAuraSecret", "CloudinarySecret"):
        assert not allowed(access.read_secret(frontend, secret)), secret
    assert allowed(access.read_bucket(frontend, "DataBucketDesignFiles", "public/"))
    assert not allowed(access.read_bucket(frontend, "DataBucketDesignFiles", "private/"))


# --- the walk fails when a grant it relies on is removed ---------------------------------------------


def without_grant(
    template: dict[str, Any], role_logical_prefix: str, action: str, resource_id: str
) -> dict[str, Any]:
    """`template` with the Allow statements of one role's policies that give `action` on `resource_id`
    removed (as if the grant were deleted from the code)."""
    changed = copy.deepcopy(template)
    removed = 0
    for resource in changed["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if not any(
            str(r.get("Ref", "")).startswith(role_logical_prefix) for r in resource["Properties"]["Roles"]
        ):
            continue
        statements = resource["Properties"]["PolicyDocument"]["Statement"]
        kept = [
            s
            for s in statements
            if not (action in json.dumps(s.get("Action")) and resource_id in json.dumps(s.get("Resource")))
        ]
        removed += len(statements) - len(kept)
        resource["Properties"]["PolicyDocument"]["Statement"] = kept
    assert removed, f"no statement of {role_logical_prefix} gives {action} on {resource_id}"
    return changed


@pytest.mark.parametrize(
    ("role", "action", "resource", "expected"),
    [
        (
            "CiFrontendRole",
            "secretsmanager:GetSecretValue",
            "FrontendNeo4jAuraSecret",
            "frontend/secrets/neo4j-aura: blog_code (frontend) refused secretsmanager:GetSecretValue on "
            "FrontendNeo4jAuraSecret: implicit deny",
        ),
        (
            "RuntimeRolesFlowRunTask",
            "ssm:GetParameter",
            "ContractPipelinesWorkPool",
            "pipelines/work-pool: blog_data (flow-run-task) refused ssm:GetParameter",
        ),
        (
            "RuntimeRolesFlowRunTask",
            "s3:GetObject",
            "DataBucketRaw",
            "data/buckets/raw: blog_data (flow-run-task) refused s3:GetObject",
        ),
    ],
)
def test_removing_a_grant_makes_the_walk_fail(
    platform: Platform, role: str, action: str, resource: str, expected: str
) -> None:
    # GIVEN the template without one grant the contract relies on
    template = without_grant(platform.template, role, action, resource)
    # WHEN the contract is walked
    failures = list(contract_failures(platform, platform.access(template)))
    # THEN the walk names the consumer, its role and the refused call
    assert any(expected in failure for failure in failures), failures


def test_an_extra_grant_makes_the_inverted_walk_fail(platform: Platform) -> None:
    # GIVEN the frontend role also given the pipelines' Neo4j secret (a grant without a reason)
    template = copy.deepcopy(platform.template)
    policy = next(
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        and any(str(x.get("Ref", "")).startswith("CiFrontendRole") for x in r["Properties"]["Roles"])
    )
    extra = {
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": {"Ref": "Neo4jAuraSecret"},
    }
    policy["Properties"]["PolicyDocument"]["Statement"].append(extra)
    # THEN the inverted walk names it (the key policy delegates to IAM, the frontend already decrypts
    # with the same key for its own secrets)
    assert "frontend can read secret Neo4jAuraSecret" in list(unexpected_readers(platform.access(template)))
