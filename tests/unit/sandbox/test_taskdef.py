"""Reading containers out of a template: references, secrets and the order ECS starts them in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from blog_infra.sandbox.ecs_secrets import MissingJsonKey, SecretStore, inject
from blog_infra.sandbox.platform import start_order
from blog_infra.sandbox.taskdef import Resolver, TemplateError, containers, parse_secret_reference

ACCOUNT, REGION = "111111111111", "us-east-1"


def _task(*names: tuple[str, list[str]]) -> dict[str, Any]:
    return {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "ContainerDefinitions": [
                {
                    "Name": name,
                    "Image": "img:1",
                    "DependsOn": [{"ContainerName": d, "Condition": "HEALTHY"} for d in deps],
                }
                for name, deps in names
            ]
        },
    }


def _service(task: str, depends: list[str]) -> dict[str, Any]:
    return {
        "Type": "AWS::ECS::Service",
        "DependsOn": depends,
        "Properties": {"TaskDefinition": {"Ref": task}},
    }


def test_secret_references_name_the_secret_and_the_json_key() -> None:
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:blog/prod/db-AbCdEf"
    assert parse_secret_reference(arn).json_key is None
    reference = parse_secret_reference(f"{arn}:password::")
    assert (reference.arn, reference.json_key) == (arn, "password")
    with pytest.raises(TemplateError, match="not a Secrets Manager reference"):
        parse_secret_reference("arn:aws:ssm:us-east-1:111111111111:parameter/x")


def test_references_resolve_to_stand_ins_and_unknown_ones_are_refused() -> None:
    template = {
        "Resources": {
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {}},
            "Task": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "ContainerDefinitions": [
                        {
                            "Name": "app",
                            "Image": "img:1",
                            "Environment": [
                                {"Name": "CLUSTER", "Value": {"Fn::GetAtt": ["Cluster", "Arn"]}},
                                {
                                    "Name": "WHERE",
                                    "Value": {"Fn::Join": ["/", [{"Ref": "AWS::Region"}, "x"]]},
                                },
                            ],
                        }
                    ]
                },
            },
        }
    }
    resolver = Resolver(template, account=ACCOUNT, region=REGION)
    [app] = containers(template, resolver)["Task"]
    assert app.environment["CLUSTER"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{resolver.ref('Cluster')}"
    assert app.environment["WHERE"] == f"{REGION}/x"
    with pytest.raises(TemplateError, match="'Missing'"):
        resolver.resolve({"Ref": "Missing"})
    overridden = Resolver(template, account=ACCOUNT, region=REGION, overrides={"Cluster": "mine"})
    assert overridden.get_att("Cluster", "Arn").endswith("cluster/mine")


def test_services_start_after_the_services_they_depend_on_and_containers_after_theirs() -> None:
    template = {
        "Resources": {
            "ApiTask": _task(("worker", ["api"]), ("api", [])),
            "ServicesTask": _task(("services", [])),
            "Api": _service("ApiTask", ["Services"]),
            "Services": _service("ServicesTask", []),
        }
    }
    assert start_order(template) == [("ServicesTask", "services"), ("ApiTask", "api"), ("ApiTask", "worker")]
    template["Resources"]["Services"]["DependsOn"] = ["Api"]
    with pytest.raises(TemplateError, match="cycle"):
        start_order(template)


def test_secrets_are_created_as_secrets_manager_generates_them() -> None:
    template = {
        "Resources": {
            "Login": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {
                    "GenerateSecretString": {
                        "SecretStringTemplate": json.dumps({"username": "prefect", "port": 5432}),
                        "GenerateStringKey": "password",
                        "PasswordLength": 40,
                        "ExcludePunctuation": True,
                    }
                },
            },
            "Token": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {"GenerateSecretString": {"PasswordLength": 48}},
            },
        }
    }
    resolver = Resolver(template, account=ACCOUNT, region=REGION)
    store = SecretStore.fresh(template, resolver)
    login = json.loads(store.values[resolver.ref("Login")])
    assert login["username"] == "prefect" and len(login["password"]) == 40 and login["password"].isalnum()
    assert len(store.values[resolver.ref("Token")]) == 48
    assert inject(parse_secret_reference(f"{resolver.ref('Login')}:port::"), store) == "5432"
    with pytest.raises(MissingJsonKey, match="did not contain json key host"):
        inject(parse_secret_reference(f"{resolver.ref('Login')}:host::"), store)
