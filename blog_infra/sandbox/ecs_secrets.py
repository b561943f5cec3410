"""The platform's secrets as a fresh deployment holds them, and what ECS injects from them.

- `SecretStore.fresh(template, resolver)`: every `AWS::SecretsManager::Secret` of the template with
  the value CloudFormation gives it at creation: `SecretString`, or `GenerateSecretString`'s
  template with a generated password at its key. It is an in-memory Secrets Manager (the part of
  boto3's client the Aurora bootstrap uses), keyed by the resolver's stand-in ARNs.
- `run_bootstrap(...)`: the Aurora bootstrap custom resource's Create, with its resolved properties,
  against this store and a real database: it creates the roles and databases and writes the
  connection fields into each consumer's secret, as on a deployment.
- `inject(reference, store)`: the environment value ECS gives a container for a `secrets` entry.
  The ECS agent (aws/amazon-ecs-agent `agent/asm/asm.go`, `GetSecretFromASMWithInput`) unmarshals
  the secret into a `map[string]interface{}`; a missing key fails the task before any container
  starts ("retrieved secret from Secrets Manager did not contain json key ..."); a present key is
  injected as `fmt.Sprintf("%v", value)`, so an empty string is injected as an empty variable, a
  JSON number as Go prints a float64.
- `retrieve(references, client)`: what the ECS agent injects, read from a Secrets Manager (a boto3
  client with the task execution role's credentials: "The task execution role grants the Amazon ECS
  container and Fargate agents permission to ... retrieve sensitive data from Secrets Manager",
  Amazon ECS Developer Guide, "Amazon ECS task execution IAM role").
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from typing import Any

from blog_infra.sandbox.taskdef import Resolver, SecretReference
from infra.modules.core.rds.bootstrap import handler

_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


class MissingJsonKey(Exception):
    """ECS would stop the task before its containers start: the secret lacks the JSON key."""


class SecretStore:
    """Secret values by ARN; `get_secret_value` / `put_secret_value` as boto3 answers them."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)

    @classmethod
    def fresh(cls, template: Mapping[str, Any], resolver: Resolver) -> SecretStore:
        values = {}
        for logical_id, resource in template.get("Resources", {}).items():
            if resource.get("Type") == "AWS::SecretsManager::Secret":
                values[resolver.ref(logical_id)] = initial_value(resource.get("Properties", {}))
        return cls(values)

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]:
        return {"ARN": SecretId, "SecretString": self.values[SecretId]}

    def put_secret_value(self, *, SecretId: str, SecretString: str) -> Mapping[str, Any]:
        self.values[SecretId] = SecretString
        return {"ARN": SecretId}

    def json(self, arn: str) -> dict[str, Any]:
        value = json.loads(self.values[arn])
        if not isinstance(value, dict):
            raise ValueError(f"secret {arn} is not a JSON object")
        return value


def initial_value(properties: Mapping[str, Any]) -> str:
    """The value CloudFormation stores when it creates a secret with these properties."""
    if "SecretString" in properties:
        return str(properties["SecretString"])
    generator = properties.get("GenerateSecretString") or {}
    alphabet = string.ascii_letters + string.digits
    if not generator.get("ExcludePunctuation", False):
        alphabet += _PUNCTUATION
    excluded = str(generator.get("ExcludeCharacters", ""))
    alphabet = "".join(c for c in alphabet if c not in excluded)
    password = "".join(secrets.choice(alphabet) for _ in range(int(generator.get("PasswordLength", 32))))
    template = generator.get("SecretStringTemplate")
    if template is None:
        return password
    value = json.loads(str(template))
    value[str(generator["GenerateStringKey"])] = password
    return json.dumps(value)


def go_value(value: Any) -> str:
    """`fmt.Sprintf("%v", v)` of a value Go's encoding/json decoded into an interface{}."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    if isinstance(value, int | float):
        number = float(value)
        if number.is_integer() and abs(number) < 1e21:
            return str(int(number))
        return repr(number)
    raise ValueError(f"no model of how ECS prints a JSON {type(value).__name__}")


def inject(reference: SecretReference, store: SecretStore) -> str:
    """The value of the environment variable ECS sets from `reference`."""
    if reference.json_key is None:
        return store.values[reference.arn]
    value = store.json(reference.arn)
    if reference.json_key not in value:
        raise MissingJsonKey(
            f"retrieved secret from Secrets Manager did not contain json key {reference.json_key}"
        )
    return go_value(value[reference.json_key])


def retrieve(references: Mapping[str, SecretReference], client: Any) -> dict[str, str]:
    """Each variable's value from `client`'s Secrets Manager; LookupError naming the secret (or the
    missing key) for one that cannot be retrieved, the cause ECS gives when it stops the task."""
    values: dict[str, str] = {}
    for name, reference in references.items():
        try:
            text = client.get_secret_value(SecretId=reference.arn)["SecretString"]
        except Exception as exc:
            raise LookupError(f"{reference.arn}: {exc}") from None
        if reference.json_key is None:
            values[name] = text
            continue
        value = json.loads(text)
        if reference.json_key not in value:
            raise LookupError(
                f"retrieved secret from Secrets Manager did not contain json key {reference.json_key}"
            )
        values[name] = go_value(value[reference.json_key])
    return values


def run_bootstrap(
    template: Mapping[str, Any], resolver: Resolver, store: SecretStore, executor: handler.Executor
) -> dict[str, Any]:
    """The Aurora bootstrap's Create with the template's resolved properties; its response."""
    found = [
        resource
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == "Custom::AuroraBootstrap"
    ]
    if len(found) != 1:
        raise ValueError(f"the template has {len(found)} Custom::AuroraBootstrap resources, not one")
    properties = resolver.resolve(
        {key: value for key, value in found[0]["Properties"].items() if key != "ServiceToken"}
    )
    event = {"RequestType": "Create", "ResourceProperties": properties}
    return handler.on_event(event, secrets=store, executor=executor)
