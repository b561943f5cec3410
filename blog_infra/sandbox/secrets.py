"""Secrets Manager as a fresh deployment leaves it, and ECS's way of injecting secrets.

`SecretStore.from_template` creates every `AWS::SecretsManager::Secret` of a template the way
Secrets Manager does on creation: `GenerateSecretString` with a `SecretStringTemplate` and a
`GenerateStringKey` gives that JSON with a generated password under the key; without them, the
generated string itself. It also offers `get_secret_value` / `put_secret_value`, the calls the Aurora
bootstrap makes. `inject` resolves a container's ECS `secrets` into environment values.
"""

from __future__ import annotations

import json
import secrets as random
import string
from collections.abc import Mapping
from typing import Any

from blog_infra.sandbox.taskdef import Resolver, SecretReference, TemplateError

_ALPHANUMERIC = string.ascii_letters + string.digits


def _generate(spec: Mapping[str, Any]) -> str:
    length = int(spec.get("PasswordLength", 32))
    alphabet = (
        _ALPHANUMERIC if spec.get("ExcludePunctuation") else _ALPHANUMERIC + "!#$%&()*+,-.:;<=>?[]^_{|}~"
    )
    password = "".join(random.choice(alphabet) for _ in range(length))
    template = spec.get("SecretStringTemplate")
    key = spec.get("GenerateStringKey")
    if template is None or key is None:
        return password
    value = json.loads(template)
    value[key] = password
    return json.dumps(value)


class SecretStore:
    """Secret values by ARN."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self.values: dict[str, str] = dict(values or {})

    @classmethod
    def from_template(cls, template: Mapping[str, Any], resolver: Resolver) -> SecretStore:
        store = cls()
        for logical_id, resource in template.get("Resources", {}).items():
            if resource.get("Type") != "AWS::SecretsManager::Secret":
                continue
            properties = resource.get("Properties", {})
            if "SecretString" in properties:
                raise TemplateError(f"{logical_id} puts a literal SecretString into the template")
            store.values[resolver.ref(logical_id)] = _generate(properties.get("GenerateSecretString", {}))
        return store

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]:
        return {"ARN": SecretId, "SecretString": self.values[SecretId]}

    def put_secret_value(self, *, SecretId: str, SecretString: str) -> Mapping[str, Any]:
        if SecretId not in self.values:
            raise KeyError(f"no secret {SecretId}")
        self.values[SecretId] = SecretString
        return {"ARN": SecretId}

    def value(self, reference: SecretReference) -> str:
        """What ECS injects for `reference`: the whole string, or one JSON key's value as a string."""
        raw = self.values[reference.arn]
        if reference.json_key is None:
            return raw
        document = json.loads(raw)
        if reference.json_key not in document:
            raise KeyError(f"secret {reference.arn} has no JSON key {reference.json_key!r}")
        item = document[reference.json_key]
        return item if isinstance(item, str) else json.dumps(item)

    def inject(self, references: Mapping[str, SecretReference]) -> dict[str, str]:
        """A container's `secrets`, as environment variables."""
        return {name: self.value(reference) for name, reference in references.items()}
