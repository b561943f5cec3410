"""Secrets of the external services the platform integrates with (Neo4j Aura, Cloudinary), for the
pipelines and, separately and with less, for the public frontend.

The stack creates each secret with a placeholder: the JSON keys the consumers read, a generated
throw-away value for the sensitive key, and `"placeholder": "true"`. Operators set the real value
out of band (`blog-infra secrets set`); the repository and the templates never hold it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.modules.keys import restrict_grants_to_aws_services
from infra.modules.stateful import pin_logical_id

PLACEHOLDER_KEY = "placeholder"


@dataclass(frozen=True)
class ExternalSecretSpec:
    """The shape of one external service's secret."""

    construct_id: str
    description: str
    keys: tuple[str, ...]
    generated_key: str


NEO4J_AURA = ExternalSecretSpec(
    construct_id="Neo4jAura",
    description="Neo4j Aura connection (read-write) for blog_data flows and the ork processor.",
    keys=("uri", "username"),
    generated_key="password",
)
CLOUDINARY = ExternalSecretSpec(
    construct_id="Cloudinary",
    description="Cloudinary API credentials for blog_data flows and the ork processor.",
    keys=("cloud_name", "api_key"),
    generated_key="api_secret",
)


FRONTEND_NEO4J_AURA = ExternalSecretSpec(
    construct_id="FrontendNeo4jAura",
    description="Read-only Neo4j Aura login of the public frontend (blog_code on Vercel).",
    keys=("uri", "username"),
    generated_key="password",
)
FRONTEND_CLOUDINARY = ExternalSecretSpec(
    construct_id="FrontendCloudinary",
    description="Cloudinary values the public frontend needs: cloud name and API key, never the API secret.",
    keys=("cloud_name",),
    generated_key="api_key",
)


@dataclass(frozen=True, kw_only=True)
class SecretsProps:
    """Inputs of the external-secrets module."""

    name_prefix: str
    """Secret names are `<name_prefix>/<service>`, e.g. `blog/prod/neo4j-aura`."""
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
    """What happens to the secrets and their key when they leave the stack."""


class ExternalSecrets(Construct):
    """A customer-managed KMS key and placeholder secrets: one per external service for the pipelines,
    and the public frontend's own (read-only Neo4j login, browser-facing Cloudinary values)."""

    def __init__(self, scope: Construct, id: str, *, props: SecretsProps) -> None:
        super().__init__(scope, id)
        if not props.name_prefix or props.name_prefix.startswith("/"):
            raise ValueError("ExternalSecrets name_prefix must be non-empty and must not start with '/'")
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the blog platform's external-service and application secrets.",
            enable_key_rotation=True,
            removal_policy=props.removal_policy,
            pending_window=Duration.days(30),
        )
        pin_logical_id(self.key, "ExternalSecretsKey")
        restrict_grants_to_aws_services(self.key)
        self.neo4j_aura = self._secret(NEO4J_AURA, props, "neo4j-aura")
        self.cloudinary = self._secret(CLOUDINARY, props, "cloudinary")
        self.frontend_neo4j_aura = self._secret(FRONTEND_NEO4J_AURA, props, "frontend-neo4j-aura")
        self.frontend_cloudinary = self._secret(FRONTEND_CLOUDINARY, props, "frontend-cloudinary")

    def _secret(self, spec: ExternalSecretSpec, props: SecretsProps, slug: str) -> secretsmanager.Secret:
        template = {key: "" for key in spec.keys} | {PLACEHOLDER_KEY: "true"}
        secret = secretsmanager.Secret(
            self,
            spec.construct_id,
            secret_name=f"{props.name_prefix}/{slug}",
            description=spec.description,
            encryption_key=self.key,
            removal_policy=props.removal_policy,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(template, sort_keys=True),
                generate_string_key=spec.generated_key,
                exclude_punctuation=True,
                password_length=32,
            ),
        )
        pin_logical_id(secret, f"{spec.construct_id}Secret")
        return secret
