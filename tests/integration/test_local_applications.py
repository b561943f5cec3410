"""The applications, the edge and the identities, read back from the emulator after `local up`."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from emulator import control
from tests.integration.conftest import LocalPlatform

pytestmark = pytest.mark.integration

PREFIX = "rocketclub-local-123456789012"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|AUTH_STRING|CONNECTION_URL", re.IGNORECASE)


def task_definitions(platform: LocalPlatform) -> dict[str, Any]:
    ecs = platform.client("ecs")
    result = {}
    for arn in ecs.list_task_definitions()["taskDefinitionArns"]:
        definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        result[definition["family"]] = definition
    return result


def test_listener_routes_each_host_to_its_service(platform: LocalPlatform) -> None:
    elbv2 = platform.client("elbv2")
    (balancer,) = elbv2.describe_load_balancers()["LoadBalancers"]
    assert balancer["Scheme"] == "internal"
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    assert listener["Port"] == 443 and listener["Protocol"] == "HTTPS"
    rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    origin = json.loads(
        platform.client("secretsmanager").get_secret_value(SecretId="blog/local/edge/origin-verify")[
            "SecretString"
        ]
    )
    hosts = {}
    for rule in rules:
        if rule["IsDefault"]:
            assert rule["Actions"][0]["Type"] == "fixed-response"
            assert rule["Actions"][0]["FixedResponseConfig"]["StatusCode"] == "403"
            continue
        condition, header = rule["Conditions"]
        values = condition.get("HostHeaderConfig", {}).get("Values") or condition["Values"]
        # The origin lock: the dynamic reference was resolved to the secret's current value at deploy
        assert header["HttpHeaderConfig"]["HttpHeaderName"] == "X-Blog-Origin-Verify"
        assert header["HttpHeaderConfig"]["Values"] == [origin["current"]]
        assert len(origin["current"]) == 64 and origin["current"].isalnum()
        groups = elbv2.describe_target_groups(TargetGroupArns=[rule["Actions"][0]["TargetGroupArn"]])
        hosts[values[0]] = groups["TargetGroups"][0]
    assert set(hosts) == {"portal.rocketclub.test", "pipelines.rocketclub.test"}
    assert hosts["portal.rocketclub.test"]["Port"] == 7007
    assert hosts["portal.rocketclub.test"]["HealthCheckPath"] == "/.backstage/health/v1/readiness"
    assert hosts["pipelines.rocketclub.test"]["HealthCheckPath"] == "/api/health"


def test_services_run_in_the_cluster(platform: LocalPlatform) -> None:
    ecs = platform.client("ecs")
    (cluster_arn,) = ecs.list_clusters()["clusterArns"]
    services = ecs.list_services(cluster=cluster_arn)["serviceArns"]
    assert len(services) == 4  # Backstage, Prefect API, Prefect services, Prefect worker
    described = ecs.describe_services(cluster=cluster_arn, services=services)["services"]
    for service in described:
        network = service["networkConfiguration"]["awsvpcConfiguration"]
        assert network["assignPublicIp"] == "DISABLED"


def test_no_task_definition_has_a_plain_environment_secret(platform: LocalPlatform) -> None:
    definitions = task_definitions(platform)
    assert len(definitions) >= 4
    injected = 0
    for family, definition in definitions.items():
        for container in definition["containerDefinitions"]:
            plain = [e["name"] for e in container.get("environment", []) if SECRET_NAME.search(e["name"])]
            assert not plain, f"{family}/{container['name']} has secret-looking plain variables {plain}"
            for secret in container.get("secrets", []):
                assert secret["valueFrom"].startswith("arn:aws:secretsmanager:")
                injected += 1
            assert container.get("readonlyRootFilesystem") is True, family
            assert container.get("user") not in (None, "root", "0"), family
    assert injected >= 10


def test_backstage_reads_its_database_login_from_its_own_secret(platform: LocalPlatform) -> None:
    (backstage,) = [d for f, d in task_definitions(platform).items() if "Backstage" in f]
    secrets = {
        s["name"]: s["valueFrom"] for c in backstage["containerDefinitions"] for s in c.get("secrets", [])
    }
    assert {"POSTGRES_HOST", "POSTGRES_PASSWORD", "BACKEND_SECRET"} <= set(secrets)
    # AND the GitHub values, still empty placeholders, are not given to it (github_secrets is off)
    assert not {"GITHUB_TOKEN", "AUTH_GITHUB_CLIENT_ID", "AUTH_GITHUB_CLIENT_SECRET"} & set(secrets)
    assert "blog/local/database/backstage" in secrets["POSTGRES_PASSWORD"]


def test_distribution_serves_both_hostnames(platform: LocalPlatform) -> None:
    cloudfront = platform.client("cloudfront")
    (summary,) = cloudfront.list_distributions()["DistributionList"]["Items"]
    config = cloudfront.get_distribution_config(Id=summary["Id"])["DistributionConfig"]
    assert sorted(config["Aliases"]["Items"]) == ["pipelines.rocketclub.test", "portal.rocketclub.test"]
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert config["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"


def test_oidc_providers_and_role_trust(platform: LocalPlatform) -> None:
    iam = platform.client("iam")
    urls = {
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=p["Arn"])["Url"]
        for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    }
    assert any("oidc.circleci.com/org/" in url for url in urls)
    assert any("oidc.vercel.com/rocketclub" in url for url in urls)
    trust = iam.get_role(RoleName="blog-local-ci-deploy")["Role"]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    (statement,) = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    condition = json.dumps(statement["Condition"])
    assert "vcs-ref/refs/heads/main" in condition


def test_design_file_uploads_trigger_the_ork_processor(platform: LocalPlatform) -> None:
    # GIVEN the deployed ork processor and the design-files bucket
    lambda_, s3 = platform.client("lambda"), platform.client("s3")
    (function,) = [f for f in lambda_.list_functions()["Functions"] if "OrkProcessor" in f["FunctionName"]]
    arn = function["FunctionArn"]
    assert lambda_.get_function_concurrency(FunctionName=arn)["ReservedConcurrentExecutions"] == 5
    invoke = lambda_.get_function_event_invoke_config(FunctionName=arn)
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"].startswith("arn:aws:sqs:")
    bucket = f"{PREFIX}-design-files"
    (notification,) = s3.get_bucket_notification_configuration(Bucket=bucket)["LambdaFunctionConfigurations"]
    assert notification["LambdaFunctionArn"] == arn
    assert notification["Events"] == ["s3:ObjectCreated:*"]
    rules = notification["Filter"]["Key"]["FilterRules"]
    assert {r["Name"].lower(): r["Value"] for r in rules} == {"suffix": ".ork"}
    log_path = control.status(platform.state_dir / "emulator").log_path
    offset = log_path.stat().st_size
    # WHEN a design file and a file of another kind are uploaded
    s3.put_object(Bucket=bucket, Key="designs/rocket.ork", Body=b"<openrocket/>")
    s3.put_object(Bucket=bucket, Key="designs/notes.txt", Body=b"notes")
    # THEN S3 sends the design file's creation event to the function, and only that one
    log = log_path.read_bytes()[offset:].decode("utf-8", errors="replace")
    delivered = [line for line in log.splitlines() if f"not delivered to {arn}" in line]
    assert len(delivered) == 1, log
    assert f"ObjectCreated:Put for s3://{bucket}/designs/rocket.ork" in delivered[0]
    for key in ("designs/rocket.ork", "designs/notes.txt"):
        s3.delete_object(Bucket=bucket, Key=key)
