"""core/secrets: external-service secrets are created as placeholders, never with real values."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template

from infra.modules.core.secrets.construct import PLACEHOLDER_KEY, ExternalSecrets, SecretsProps
from tests.unit.helpers import new_stack


@pytest.fixture(scope="module")
def template() -> Template:
    stack = new_stack()
    ExternalSecrets(stack, "Secrets", props=SecretsProps(name_prefix="blog/test/external"))
    return Template.from_stack(stack)


@pytest.mark.parametrize(
    ("logical", "name", "keys", "generated"),
    [
        ("Neo4jAuraSecret", "blog/test/external/neo4j-aura", {"uri", "username"}, "password"),
        ("CloudinarySecret", "blog/test/external/cloudinary", {"cloud_name", "api_key"}, "api_secret"),
    ],
)
def test_placeholder_secret_has_the_consumers_keys_and_no_value(
    template: Template, logical: str, name: str, keys: set[str], generated: str
) -> None:
    secret = template.find_resources("AWS::SecretsManager::Secret")[logical]
    props = secret["Properties"]
    assert props["Name"] == name
    assert "SecretString" not in props
    body = json.loads(props["GenerateSecretString"]["SecretStringTemplate"])
    assert set(body) == keys | {PLACEHOLDER_KEY}
    assert body[PLACEHOLDER_KEY] == "true"
    assert all(body[key] == "" for key in keys)
    assert props["GenerateSecretString"]["GenerateStringKey"] == generated
    assert props["KmsKeyId"] == {"Fn::GetAtt": ["ExternalSecretsKey", "Arn"]}
    assert secret["DeletionPolicy"] == "RetainExceptOnCreate"


def test_key_rotates_and_is_retained(template: Template) -> None:
    key = template.find_resources("AWS::KMS::Key")["ExternalSecretsKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "RetainExceptOnCreate"


def test_rejects_an_absolute_prefix() -> None:
    with pytest.raises(ValueError, match="must not start with '/'"):
        ExternalSecrets(new_stack(), "Secrets", props=SecretsProps(name_prefix="/blog"))


def test_key_refuses_grants_not_made_by_aws_services(template: Template) -> None:
    key = template.find_resources("AWS::KMS::Key")["ExternalSecretsKey"]
    sids = [s.get("Sid") for s in key["Properties"]["KeyPolicy"]["Statement"]]
    assert "DenyGrantsExceptForAwsServices" in sids
