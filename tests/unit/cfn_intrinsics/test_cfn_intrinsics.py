"""infra.cfn_intrinsics: a template's intrinsics resolved to concrete ARNs for one account and region."""

from __future__ import annotations

import pytest

from infra.cfn_intrinsics import Intrinsics, Place, UnresolvableError

ACCOUNT = "111111111111"


def test_intrinsics_resolve_to_concrete_arns() -> None:
    template = {
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "blog-prod-frontend"}},
            "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "rocketclub-prod-raw"}},
            "Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"Name": "blog/prod/x"}},
            "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
        }
    }
    resolve = Intrinsics(template, Place(account=ACCOUNT, region="eu-west-1")).resolve
    assert resolve({"Fn::GetAtt": ["Role", "Arn"]}) == f"arn:aws:iam::{ACCOUNT}:role/blog-prod-frontend"
    assert (
        resolve({"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/public/*"]]})
        == "arn:aws:s3:::rocketclub-prod-raw/public/*"
    )
    assert resolve(
        {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/blog/*"}
    ) == (f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/blog/*")
    assert resolve({"Fn::Sub": ["${B}/x", {"B": {"Ref": "Bucket"}}]}) == "rocketclub-prod-raw/x"
    assert str(resolve({"Ref": "Secret"})).startswith(
        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:blog/prod/x-"
    )
    assert resolve({"Fn::GetAtt": ["Key", "Arn"]}).startswith(f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/")
    with pytest.raises(UnresolvableError, match="Fn::ImportValue"):
        resolve({"Fn::ImportValue": "x"})
    with pytest.raises(UnresolvableError, match="Nope"):
        resolve({"Ref": "Nope"})
