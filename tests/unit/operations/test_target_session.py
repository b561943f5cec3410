"""A Target can carry a role session: its clients and the CDK CLI sign with the session's token."""

from __future__ import annotations

import pytest

from blog_infra.cdk import cdk_environment
from blog_infra.target import Target
from infra.config import load_config

SESSION = {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret", "SessionToken": "token"}


@pytest.fixture
def emulated() -> Target:
    return Target(
        config=load_config("local"),
        endpoint="http://127.0.0.1:1",
        env={"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"},
    )


def test_the_default_keys_sign_without_a_session_token(emulated: Target) -> None:
    # WHEN a client is built from the emulator's own keys THEN it carries no token
    credentials = emulated.client("sts")._request_signer._credentials
    assert (credentials.access_key, credentials.token) == ("test", None)


def test_a_role_session_signs_clients_and_the_cdk_cli_with_its_token(
    emulated: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a token of another session in the shell, which an emulated target never passes on
    monkeypatch.setenv("AWS_SESSION_TOKEN", "shell-token")
    # WHEN the target carries a role session
    session = emulated.with_session(SESSION)
    # THEN its clients sign with the session's keys and token
    credentials = session.client("sts")._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key, credentials.token) == (
        "ASIAEXAMPLE",
        "secret",
        "token",
    )
    # AND the CDK CLI gets the same three, the region kept
    environment = cdk_environment(session)
    assert environment["AWS_ACCESS_KEY_ID"] == "ASIAEXAMPLE"
    assert environment["AWS_SESSION_TOKEN"] == "token"
    assert environment["AWS_REGION"] == "us-east-1"
    # AND the default target, in the same shell, passes no token to the CDK CLI
    assert "AWS_SESSION_TOKEN" not in cdk_environment(emulated)
