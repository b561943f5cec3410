"""Each resource model deploys from a hand-written template, reads back through the service's own
API, and is gone after the stack is deleted."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from blog_infra.images import OCI_MANIFEST, stand_in_manifest
from tests.emulator.emulator_testlib import (
    create_stack,
    delete_stack,
    describe,
    outputs,
    template,
    update_stack,
)

Aws = Callable[[str], Any]

KMS_KEY = {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": []}}}

NETWORK: dict[str, Any] = {
    "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.20.0.0/16"}},
    "SubnetA": {
        "Type": "AWS::EC2::Subnet",
        "Properties": {
            "VpcId": {"Ref": "Vpc"},
            "CidrBlock": "10.20.0.0/24",
            "AvailabilityZone": "us-east-1a",
        },
    },
    "SubnetB": {
        "Type": "AWS::EC2::Subnet",
        "Properties": {
            "VpcId": {"Ref": "Vpc"},
            "CidrBlock": "10.20.1.0/24",
            "AvailabilityZone": "us-east-1b",
        },
    },
}


def test_bucket_configuration_is_readable_through_s3(cfn: Any, aws: Aws) -> None:
    body = template(
        {
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {
                                "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"},
                                "BucketKeyEnabled": True,
                            }
                        ]
                    },
                    "LifecycleConfiguration": {
                        "Rules": [
                            {
                                "Id": "old",
                                "Status": "Enabled",
                                "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                            },
                            {"Id": "tmp", "Status": "Enabled", "Prefix": "tmp/", "ExpirationInDays": 7},
                        ]
                    },
                    "Tags": [{"Key": "owner", "Value": "data"}],
                },
            }
        },
        outputs={"Name": {"Ref": "Bucket"}, "Arn": {"Fn::GetAtt": ["Bucket", "Arn"]}},
    )
    bucket = outputs(create_stack(cfn, "s3-bucket", body))["Name"]
    s3 = aws("s3")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["BucketKeyEnabled"] is True
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["old"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert rules["tmp"]["Expiration"]["Days"] == 7
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "owner", "Value": "data"}]

    changed = body.replace(
        '"Enabled"}, "PublicAccessBlockConfiguration"', '"Suspended"}, "PublicAccessBlockConfiguration"'
    )
    update_stack(cfn, "s3-bucket", changed)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"

    delete_stack(cfn, "s3-bucket")
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_bucket_policy_is_stored_and_enforce_ssl_allows_local_requests(cfn: Any, aws: Aws) -> None:
    statement = {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [
            {"Fn::GetAtt": ["Bucket", "Arn"]},
            {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/*"]]},
        ],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    body = template(
        {
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Policy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "Bucket"},
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]},
                },
            },
        },
        outputs={"Name": {"Ref": "Bucket"}},
    )
    bucket = outputs(create_stack(cfn, "s3-policy", body))["Name"]
    s3 = aws("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    s3.delete_object(Bucket=bucket, Key="k")
    delete_stack(cfn, "s3-policy")


@pytest.mark.slow  # about 1 s
def test_aurora_serverless_cluster_with_generated_secret(cfn: Any, aws: Aws) -> None:
    resources: dict[str, Any] = {
        **NETWORK,
        "Key": KMS_KEY,
        "Subnets": {
            "Type": "AWS::RDS::DBSubnetGroup",
            "Properties": {
                "DBSubnetGroupDescription": "db",
                "SubnetIds": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}],
            },
        },
        "DbSg": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {"GroupDescription": "db", "VpcId": {"Ref": "Vpc"}},
        },
        "Secret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "GenerateSecretString": {
                    "SecretStringTemplate": '{"username": "postgres"}',
                    "GenerateStringKey": "password",
                    "PasswordLength": 30,
                    "ExcludeCharacters": " %+~`#$&*()|[]{}:;<>?!'/@\"\\",
                }
            },
        },
        "Cluster": {
            "Type": "AWS::RDS::DBCluster",
            "DeletionPolicy": "Delete",
            "Properties": {
                "Engine": "aurora-postgresql",
                "EngineVersion": "16.4",
                "DBSubnetGroupName": {"Ref": "Subnets"},
                "VpcSecurityGroupIds": [{"Fn::GetAtt": ["DbSg", "GroupId"]}],
                "StorageEncrypted": True,
                "KmsKeyId": {"Fn::GetAtt": ["Key", "Arn"]},
                "DeletionProtection": False,
                "BackupRetentionPeriod": 7,
                "EnableCloudwatchLogsExports": ["postgresql"],
                "EnableHttpEndpoint": True,
                "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 4},
                "MasterUsername": {
                    "Fn::Join": [
                        "",
                        ["{{resolve:secretsmanager:", {"Ref": "Secret"}, ":SecretString:username::}}"],
                    ]
                },
                "MasterUserPassword": {
                    "Fn::Join": [
                        "",
                        ["{{resolve:secretsmanager:", {"Ref": "Secret"}, ":SecretString:password::}}"],
                    ]
                },
            },
        },
        "Writer": {
            "Type": "AWS::RDS::DBInstance",
            "Properties": {
                "DBClusterIdentifier": {"Ref": "Cluster"},
                "DBInstanceClass": "db.serverless",
                "Engine": "aurora-postgresql",
                "PromotionTier": 0,
            },
        },
        "Attachment": {
            "Type": "AWS::SecretsManager::SecretTargetAttachment",
            "Properties": {
                "SecretId": {"Ref": "Secret"},
                "TargetId": {"Ref": "Cluster"},
                "TargetType": "AWS::RDS::DBCluster",
            },
        },
        "Rotation": {
            "Type": "AWS::SecretsManager::RotationSchedule",
            "DependsOn": ["Attachment"],
            "Properties": {
                "SecretId": {"Ref": "Attachment"},
                "RotationLambdaARN": "arn:aws:lambda:us-east-1:123456789012:function:rotate",
                "RotationRules": {"AutomaticallyAfterDays": 30},
            },
        },
    }
    body = template(
        resources,
        outputs={
            "Id": {"Ref": "Cluster"},
            "Address": {"Fn::GetAtt": ["Cluster", "Endpoint.Address"]},
            "Port": {"Fn::GetAtt": ["Cluster", "Endpoint.Port"]},
            "Reader": {"Fn::GetAtt": ["Cluster", "ReadEndpoint.Address"]},
            "Arn": {"Fn::GetAtt": ["Cluster", "DBClusterArn"]},
            "ResourceId": {"Fn::GetAtt": ["Cluster", "DBClusterResourceId"]},
            "SecretArn": {"Ref": "Secret"},
            "SecretId": {"Fn::GetAtt": ["Secret", "Id"]},
            "KeyArn": {"Fn::GetAtt": ["Key", "Arn"]},
        },
    )
    out = outputs(create_stack(cfn, "rds-cluster", body, via_change_set=True))
    rds = aws("rds")
    cluster = rds.describe_db_clusters(DBClusterIdentifier=out["Id"])["DBClusters"][0]
    assert cluster["Engine"] == "aurora-postgresql"
    assert cluster["EngineVersion"] == "16.4"
    assert cluster["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 4.0}
    assert cluster["KmsKeyId"] == out["KeyArn"]
    assert cluster["StorageEncrypted"] is True
    assert cluster["DeletionProtection"] is False
    assert cluster["BackupRetentionPeriod"] == 7
    assert cluster["EnabledCloudwatchLogsExports"] == ["postgresql"]
    assert cluster["HttpEndpointEnabled"] is True
    assert cluster["MasterUsername"] == "postgres"
    assert cluster["DBSubnetGroup"] == describe_resource(cfn, "rds-cluster", "Subnets")
    assert [m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"]] == [
        describe_resource(cfn, "rds-cluster", "Writer")
    ]
    assert cluster["DBClusterMembers"][0]["IsClusterWriter"] is True
    assert out["Address"] == cluster["Endpoint"] and out["Port"] == "5432"
    assert out["Reader"] == cluster["ReaderEndpoint"]
    assert out["Arn"] == cluster["DBClusterArn"] and out["ResourceId"] == cluster["DbClusterResourceId"]
    assert out["SecretId"] == out["SecretArn"]

    secrets = aws("secretsmanager")
    value = json.loads(secrets.get_secret_value(SecretId=out["SecretArn"])["SecretString"])
    assert value["username"] == "postgres" and len(value["password"]) == 30
    assert not set(value["password"]) & set(" %+~`#$&*()|[]{}:;<>?!'/@\"\\")
    assert value["host"] == cluster["Endpoint"] and value["port"] == 5432
    assert value["engine"] == "postgres" and value["dbClusterIdentifier"] == out["Id"]
    rotation = secrets.describe_secret(SecretId=out["SecretArn"])
    assert rotation["RotationEnabled"] is True
    assert rotation["RotationRules"]["AutomaticallyAfterDays"] == 30

    scaled = body.replace('"MaxCapacity": 4', '"MaxCapacity": 8')
    update_stack(cfn, "rds-cluster", scaled)
    cluster = rds.describe_db_clusters(DBClusterIdentifier=out["Id"])["DBClusters"][0]
    assert cluster["ServerlessV2ScalingConfiguration"]["MaxCapacity"] == 8.0

    delete_stack(cfn, "rds-cluster")
    assert out["Id"] not in [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]]
    assert not [
        i for i in rds.describe_db_instances()["DBInstances"] if i.get("DBClusterIdentifier") == out["Id"]
    ]
    assert out["SecretArn"] not in [s["ARN"] for s in secrets.list_secrets()["SecretList"]]


def test_cluster_with_managed_master_password(cfn: Any, aws: Aws) -> None:
    body = template(
        {
            "Key": KMS_KEY,
            "Cluster": {
                "Type": "AWS::RDS::DBCluster",
                "Properties": {
                    "Engine": "aurora-postgresql",
                    "MasterUsername": "admin_user",
                    "ManageMasterUserPassword": True,
                    "MasterUserSecret": {"KmsKeyId": {"Ref": "Key"}},
                    "DeletionProtection": True,
                },
            },
        },
        outputs={
            "Id": {"Ref": "Cluster"},
            "Secret": {"Fn::GetAtt": ["Cluster", "MasterUserSecret.SecretArn"]},
        },
    )
    out = outputs(create_stack(cfn, "rds-managed", body))
    cluster = aws("rds").describe_db_clusters(DBClusterIdentifier=out["Id"])["DBClusters"][0]
    assert cluster["DeletionProtection"] is True
    assert cluster["MasterUserSecret"]["SecretArn"] == out["Secret"]
    secret = json.loads(aws("secretsmanager").get_secret_value(SecretId=out["Secret"])["SecretString"])
    assert secret["username"] == "admin_user" and len(secret["password"]) == 32

    cfn.delete_stack(StackName="rds-managed")
    stack = describe(cfn, "rds-managed")
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert "deletion protection" in stack["StackStatusReason"]
    update_stack(
        cfn, "rds-managed", body.replace('"DeletionProtection": true', '"DeletionProtection": false')
    )
    delete_stack(cfn, "rds-managed")


def test_secret_plain_value_and_generated_password(cfn: Any, aws: Aws) -> None:
    body = template(
        {
            "Plain": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {"Name": "app/plain", "SecretString": "hello", "Description": "d"},
            },
            "Generated": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {"GenerateSecretString": {"PasswordLength": 16, "ExcludePunctuation": True}},
            },
        },
        outputs={"Plain": {"Ref": "Plain"}, "Generated": {"Ref": "Generated"}},
    )
    out = outputs(create_stack(cfn, "secrets", body))
    secrets = aws("secretsmanager")
    assert secrets.get_secret_value(SecretId="app/plain")["SecretString"] == "hello"
    assert out["Plain"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:app/plain-")
    generated = secrets.get_secret_value(SecretId=out["Generated"])["SecretString"]
    assert len(generated) == 16 and generated.isalnum()
    update_stack(cfn, "secrets", body.replace('"hello"', '"again"'))
    assert secrets.get_secret_value(SecretId="app/plain")["SecretString"] == "again"
    assert secrets.get_secret_value(SecretId=out["Generated"])["SecretString"] == generated
    delete_stack(cfn, "secrets")
    assert not {out["Plain"], out["Generated"]} & {s["ARN"] for s in secrets.list_secrets()["SecretList"]}


def test_oidc_provider(cfn: Any, aws: Aws) -> None:
    body = template(
        {
            "CircleCi": {
                "Type": "AWS::IAM::OIDCProvider",
                "Properties": {
                    "Url": "https://oidc.circleci.com/org/abc",
                    "ClientIdList": ["abc"],
                    "ThumbprintList": ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
                },
            }
        },
        outputs={"Arn": {"Fn::GetAtt": ["CircleCi", "Arn"]}, "Ref": {"Ref": "CircleCi"}},
    )
    out = outputs(create_stack(cfn, "oidc", body))
    assert out["Arn"] == out["Ref"] == "arn:aws:iam::123456789012:oidc-provider/oidc.circleci.com/org/abc"
    iam = aws("iam")
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=out["Arn"])
    assert provider["Url"] == "oidc.circleci.com/org/abc"
    assert provider["ClientIDList"] == ["abc"]
    assert provider["ThumbprintList"] == ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]
    delete_stack(cfn, "oidc")
    assert {"Arn": out["Arn"]} not in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]


def test_cloudfront_distribution(cfn: Any, aws: Aws) -> None:
    body = template(
        {
            "Cdn": {
                "Type": "AWS::CloudFront::Distribution",
                "Properties": {
                    "DistributionConfig": {
                        "Enabled": True,
                        "Aliases": ["portal.example.org", "pipelines.example.org"],
                        "Origins": [
                            {
                                "Id": "alb",
                                "DomainName": "alb.example.org",
                                "CustomOriginConfig": {"OriginProtocolPolicy": "https-only"},
                            }
                        ],
                        "DefaultCacheBehavior": {
                            "TargetOriginId": "alb",
                            "ViewerProtocolPolicy": "redirect-to-https",
                            "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
                            "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
                        },
                        "ViewerCertificate": {
                            "AcmCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x",
                            "SslSupportMethod": "sni-only",
                            "MinimumProtocolVersion": "TLSv1.2_2021",
                        },
                    }
                },
            }
        },
        outputs={"Id": {"Ref": "Cdn"}, "Domain": {"Fn::GetAtt": ["Cdn", "DomainName"]}},
    )
    out = outputs(create_stack(cfn, "cdn", body))
    cloudfront = aws("cloudfront")
    distribution = cloudfront.get_distribution(Id=out["Id"])["Distribution"]
    assert distribution["DomainName"] == out["Domain"] and out["Domain"].endswith(".cloudfront.net")
    config = distribution["DistributionConfig"]
    assert config["Aliases"]["Items"] == ["portal.example.org", "pipelines.example.org"]
    assert config["Origins"]["Items"][0]["DomainName"] == "alb.example.org"
    update_stack(cfn, "cdn", body.replace('"pipelines.example.org"', '"data.example.org"'))
    config = cloudfront.get_distribution(Id=out["Id"])["Distribution"]["DistributionConfig"]
    assert config["Aliases"]["Items"] == ["portal.example.org", "data.example.org"]
    delete_stack(cfn, "cdn")
    assert out["Id"] not in [
        d["Id"] for d in cloudfront.list_distributions()["DistributionList"].get("Items", [])
    ]


def test_security_group_rules(cfn: Any, aws: Aws) -> None:
    body = template(
        {
            "Vpc": NETWORK["Vpc"],
            "Alb": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": "alb",
                    "VpcId": {"Ref": "Vpc"},
                    "SecurityGroupIngress": [
                        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}
                    ],
                    "SecurityGroupEgress": [
                        {"IpProtocol": "-1", "CidrIp": "0.0.0.0/0", "Description": "all"}
                    ],
                },
            },
            "App": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": "app",
                    "VpcId": {"Ref": "Vpc"},
                    "SecurityGroupEgress": [
                        {"IpProtocol": "icmp", "FromPort": 252, "ToPort": 86, "CidrIp": "255.255.255.255/32"}
                    ],
                },
            },
            "AlbToApp": {
                "Type": "AWS::EC2::SecurityGroupEgress",
                "Properties": {
                    "GroupId": {"Fn::GetAtt": ["Alb", "GroupId"]},
                    "IpProtocol": "tcp",
                    "FromPort": 3000,
                    "ToPort": 3000,
                    "DestinationSecurityGroupId": {"Fn::GetAtt": ["App", "GroupId"]},
                },
            },
            "AppFromAlb": {
                "Type": "AWS::EC2::SecurityGroupIngress",
                "Properties": {
                    "GroupId": {"Fn::GetAtt": ["App", "GroupId"]},
                    "IpProtocol": "tcp",
                    "FromPort": 3000,
                    "ToPort": 3000,
                    "SourceSecurityGroupId": {"Fn::GetAtt": ["Alb", "GroupId"]},
                },
            },
        },
        outputs={"Alb": {"Ref": "Alb"}, "App": {"Ref": "App"}, "Egress": {"Ref": "AlbToApp"}},
    )
    out = outputs(create_stack(cfn, "sg", body))
    ec2 = aws("ec2")
    groups = {
        g["GroupId"]: g
        for g in ec2.describe_security_groups(GroupIds=[out["Alb"], out["App"]])["SecurityGroups"]
    }
    alb_egress = groups[out["Alb"]]["IpPermissionsEgress"]
    everywhere = [p for p in alb_egress if p["IpProtocol"] == "-1"]
    assert everywhere and everywhere[0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0", "Description": "all"}]
    to_app = [p for p in alb_egress if p.get("FromPort") == 3000]
    assert to_app and to_app[0]["UserIdGroupPairs"][0]["GroupId"] == out["App"]
    assert out["Egress"].startswith("sgr-")
    app = groups[out["App"]]
    assert [r["CidrIp"] for p in app["IpPermissionsEgress"] for r in p.get("IpRanges", [])] == [
        "255.255.255.255/32"
    ]
    assert app["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == out["Alb"]
    assert groups[out["Alb"]]["IpPermissions"][0]["FromPort"] == 443
    delete_stack(cfn, "sg")
    assert not [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupId"] in out.values()]


def describe_resource(cfn: Any, stack: str, logical_id: str) -> str:
    resource = cfn.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)
    return str(resource["StackResourceDetail"]["PhysicalResourceId"])


@pytest.mark.parametrize("via_change_set", [False, True])
def test_network_deploys_and_deletes_completely(cfn: Any, aws: Aws, via_change_set: bool) -> None:
    name = f"network-{int(via_change_set)}"
    body = template(
        {
            **NETWORK,
            "Igw": {"Type": "AWS::EC2::InternetGateway"},
            "IgwAttachment": {
                "Type": "AWS::EC2::VPCGatewayAttachment",
                "Properties": {"VpcId": {"Ref": "Vpc"}, "InternetGatewayId": {"Ref": "Igw"}},
            },
            "PublicRoutes": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}},
            "PublicDefault": {
                "Type": "AWS::EC2::Route",
                "DependsOn": ["IgwAttachment"],
                "Properties": {
                    "RouteTableId": {"Ref": "PublicRoutes"},
                    "DestinationCidrBlock": "0.0.0.0/0",
                    "GatewayId": {"Ref": "Igw"},
                },
            },
            "PublicAssoc": {
                "Type": "AWS::EC2::SubnetRouteTableAssociation",
                "Properties": {"RouteTableId": {"Ref": "PublicRoutes"}, "SubnetId": {"Ref": "SubnetA"}},
            },
            "Eip": {"Type": "AWS::EC2::EIP", "Properties": {"Domain": "vpc"}},
            "Nat": {
                "Type": "AWS::EC2::NatGateway",
                "Properties": {
                    "AllocationId": {"Fn::GetAtt": ["Eip", "AllocationId"]},
                    "SubnetId": {"Ref": "SubnetA"},
                },
            },
            "PrivateRoutes": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}},
            "PrivateDefault": {
                "Type": "AWS::EC2::Route",
                "Properties": {
                    "RouteTableId": {"Ref": "PrivateRoutes"},
                    "DestinationCidrBlock": "0.0.0.0/0",
                    "NatGatewayId": {"Ref": "Nat"},
                },
            },
            "PrivateAssoc": {
                "Type": "AWS::EC2::SubnetRouteTableAssociation",
                "Properties": {"RouteTableId": {"Ref": "PrivateRoutes"}, "SubnetId": {"Ref": "SubnetB"}},
            },
            "S3Endpoint": {
                "Type": "AWS::EC2::VPCEndpoint",
                "Properties": {
                    "VpcId": {"Ref": "Vpc"},
                    "ServiceName": "com.amazonaws.us-east-1.s3",
                    "VpcEndpointType": "Gateway",
                    "RouteTableIds": [{"Ref": "PrivateRoutes"}],
                },
            },
            "FlowLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}},
            "FlowLogRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                },
            },
            "FlowLog": {
                "Type": "AWS::EC2::FlowLog",
                "Properties": {
                    "ResourceId": {"Ref": "Vpc"},
                    "ResourceType": "VPC",
                    "TrafficType": "REJECT",
                    "LogGroupName": {"Ref": "FlowLogGroup"},
                    "DeliverLogsPermissionArn": {"Fn::GetAtt": ["FlowLogRole", "Arn"]},
                },
            },
        },
        outputs={"Vpc": {"Ref": "Vpc"}, "Nat": {"Ref": "Nat"}, "LogGroup": {"Ref": "FlowLogGroup"}},
    )
    out = outputs(create_stack(cfn, name, body, via_change_set=via_change_set))
    ec2 = aws("ec2")
    vpc_filter = [{"Name": "vpc-id", "Values": [out["Vpc"]]}]
    assert len(ec2.describe_route_tables(Filters=vpc_filter)["RouteTables"]) == 3
    assert len(ec2.describe_vpc_endpoints(Filters=vpc_filter)["VpcEndpoints"]) == 1
    assert aws("logs").describe_log_groups(logGroupNamePrefix=out["LogGroup"])["logGroups"]
    # A no-op redeploy leaves every resource in place.
    assert cfn.create_change_set(
        StackName=name, ChangeSetName="again", ChangeSetType="UPDATE", TemplateBody=body
    )["Id"]
    again = cfn.describe_change_set(StackName=name, ChangeSetName="again")
    assert again["Status"] == "FAILED" and "didn't contain changes" in again["StatusReason"]
    cfn.delete_change_set(StackName=name, ChangeSetName="again")

    delete_stack(cfn, name)
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [out["Vpc"]]}])["Vpcs"] == []
    assert ec2.describe_route_tables(Filters=vpc_filter)["RouteTables"] == []
    assert ec2.describe_nat_gateways(NatGatewayIds=[out["Nat"]])["NatGateways"][0]["State"] == "deleted"
    assert ec2.describe_addresses()["Addresses"] == []
    assert {e["State"] for e in ec2.describe_vpc_endpoints(Filters=vpc_filter)["VpcEndpoints"]} <= {"deleted"}
    assert ec2.describe_flow_logs()["FlowLogs"] == []
    assert [g for g in ec2.describe_internet_gateways()["InternetGateways"] if g["Attachments"]] == []
    assert aws("logs").describe_log_groups(logGroupNamePrefix=out["LogGroup"])["logGroups"] == []


ASSUME_ECS_TASKS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
ASSUME_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


PORTAL_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/portal:1.0.0"


def _services_template(handler_code: str) -> str:
    return template(
        {
            **NETWORK,
            "AlbSg": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {"GroupDescription": "alb", "VpcId": {"Ref": "Vpc"}},
            },
            "Alb": {
                "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                "Properties": {
                    "Type": "application",
                    "Scheme": "internet-facing",
                    "Subnets": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}],
                    "SecurityGroups": [{"Fn::GetAtt": ["AlbSg", "GroupId"]}],
                    "LoadBalancerAttributes": [{"Key": "deletion_protection.enabled", "Value": "false"}],
                },
            },
            "PortalTargets": {
                "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
                "Properties": {
                    "Port": 7007,
                    "Protocol": "HTTP",
                    "TargetType": "ip",
                    "VpcId": {"Ref": "Vpc"},
                    "HealthCheckPath": "/healthcheck",
                },
            },
            "Https": {
                "Type": "AWS::ElasticLoadBalancingV2::Listener",
                "Properties": {
                    "LoadBalancerArn": {"Ref": "Alb"},
                    "Port": 80,
                    "Protocol": "HTTP",
                    "DefaultActions": [
                        {
                            "Type": "fixed-response",
                            "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"},
                        }
                    ],
                },
            },
            "PortalRule": {
                "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
                "Properties": {
                    "ListenerArn": {"Ref": "Https"},
                    "Priority": 10,
                    "Conditions": [
                        {"Field": "host-header", "HostHeaderConfig": {"Values": ["portal.example.org"]}}
                    ],
                    "Actions": [{"Type": "forward", "TargetGroupArn": {"Ref": "PortalTargets"}}],
                },
            },
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "platform"}},
            "Providers": {
                "Type": "AWS::ECS::ClusterCapacityProviderAssociations",
                "Properties": {
                    "Cluster": {"Ref": "Cluster"},
                    "CapacityProviders": ["FARGATE", "FARGATE_SPOT"],
                    "DefaultCapacityProviderStrategy": [],
                },
            },
            "TaskRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": ASSUME_ECS_TASKS},
            },
            "TaskPolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "task",
                    "Roles": [{"Ref": "TaskRole"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
                    },
                },
            },
            "SharedPolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "Roles": [{"Ref": "TaskRole"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}],
                    },
                },
            },
            "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 14}},
            "Repository": {"Type": "AWS::ECR::Repository"},
            "TaskDef": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": "portal",
                    "Cpu": "512",
                    "Memory": "1024",
                    "NetworkMode": "awsvpc",
                    "RequiresCompatibilities": ["FARGATE"],
                    "TaskRoleArn": {"Fn::GetAtt": ["TaskRole", "Arn"]},
                    "ContainerDefinitions": [
                        {
                            "Name": "backstage",
                            "Image": PORTAL_IMAGE,
                            "PortMappings": [{"ContainerPort": 7007}],
                            "Essential": True,
                        }
                    ],
                },
            },
            "Service": {
                "Type": "AWS::ECS::Service",
                "DependsOn": ["PortalRule"],
                "Properties": {
                    "Cluster": {"Ref": "Cluster"},
                    "TaskDefinition": {"Ref": "TaskDef"},
                    "DesiredCount": 1,
                    "LaunchType": "FARGATE",
                    "LoadBalancers": [
                        {
                            "ContainerName": "backstage",
                            "ContainerPort": 7007,
                            "TargetGroupArn": {"Ref": "PortalTargets"},
                        }
                    ],
                    "NetworkConfiguration": {
                        "AwsvpcConfiguration": {"Subnets": [{"Ref": "SubnetA"}], "AssignPublicIp": "DISABLED"}
                    },
                },
            },
            "Scaling": {
                "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
                "Properties": {
                    "ServiceNamespace": "ecs",
                    "ScalableDimension": "ecs:service:DesiredCount",
                    "ResourceId": {
                        "Fn::Join": [
                            "",
                            ["service/", {"Ref": "Cluster"}, "/", {"Fn::GetAtt": ["Service", "Name"]}],
                        ]
                    },
                    "MinCapacity": 1,
                    "MaxCapacity": 3,
                },
            },
            "CpuScaling": {
                "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                "Properties": {
                    "PolicyName": "cpu",
                    "PolicyType": "TargetTrackingScaling",
                    "ScalingTargetId": {"Ref": "Scaling"},
                    "TargetTrackingScalingPolicyConfiguration": {
                        "TargetValue": 60,
                        "PredefinedMetricSpecification": {
                            "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                        },
                    },
                },
            },
            "Alerts": {"Type": "AWS::SNS::Topic"},
            "DeadLetters": {"Type": "AWS::SQS::Queue"},
            "Alarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "Namespace": "AWS/ECS",
                    "MetricName": "CPUUtilization",
                    "Dimensions": [{"Name": "ClusterName", "Value": {"Ref": "Cluster"}}],
                    "Statistic": "Average",
                    "Period": 300,
                    "EvaluationPeriods": 2,
                    "Threshold": 90,
                    "ComparisonOperator": "GreaterThanThreshold",
                    "AlarmActions": [{"Ref": "Alerts"}],
                },
            },
            "Dashboard": {
                "Type": "AWS::CloudWatch::Dashboard",
                "Properties": {"DashboardBody": json.dumps({"widgets": []})},
            },
            "Key": KMS_KEY,
            "KeyAlias": {
                "Type": "AWS::KMS::Alias",
                "Properties": {"AliasName": "alias/platform", "TargetKeyId": {"Ref": "Key"}},
            },
            "Parameter": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": "/platform/cluster", "Type": "String", "Value": {"Ref": "Cluster"}},
            },
            "FunctionRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": ASSUME_LAMBDA},
            },
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "index.handler",
                    "Role": {"Fn::GetAtt": ["FunctionRole", "Arn"]},
                    "Code": {"ZipFile": handler_code},
                    "Environment": {"Variables": {"STAGE": "local"}},
                },
            },
            "Processor": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "app.handler",
                    "Role": {"Fn::GetAtt": ["FunctionRole", "Arn"]},
                    "Code": {"S3Bucket": "published-elsewhere", "S3Key": "processor.zip"},
                },
            },
            "InvokeConfig": {
                "Type": "AWS::Lambda::EventInvokeConfig",
                "Properties": {
                    "FunctionName": {"Ref": "Function"},
                    "Qualifier": "$LATEST",
                    "MaximumRetryAttempts": 0,
                    "DestinationConfig": {
                        "OnFailure": {"Destination": {"Fn::GetAtt": ["DeadLetters", "Arn"]}}
                    },
                },
            },
            "AllowS3": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": {"Fn::GetAtt": ["Function", "Arn"]},
                    "Principal": "s3.amazonaws.com",
                    "SourceAccount": "123456789012",
                },
            },
            "Bootstrap": {
                "Type": "Custom::Unmodeled",
                "Properties": {"ServiceToken": {"Fn::GetAtt": ["Function", "Arn"]}, "Database": "prefect"},
            },
        },
        outputs={
            "Alb": {"Fn::GetAtt": ["Alb", "DNSName"]},
            "Cluster": {"Ref": "Cluster"},
            "Service": {"Ref": "Service"},
            "TargetGroup": {"Ref": "PortalTargets"},
            "Function": {"Ref": "Function"},
            "Processor": {"Ref": "Processor"},
            "Custom": {"Fn::GetAtt": ["Bootstrap", "Endpoint"]},
            "Role": {"Ref": "TaskRole"},
            "SharedPolicy": {"Ref": "SharedPolicy"},
            "Repository": {"Ref": "Repository"},
            "Logs": {"Ref": "Logs"},
            "Alarm": {"Ref": "Alarm"},
            "Scaling": {"Ref": "Scaling"},
            "Topic": {"Ref": "Alerts"},
        },
    )


def _push_portal_image(aws: Aws) -> None:
    """The service's image in the emulator's ECR first, as on AWS, where a task must pull it."""
    ecr = aws("ecr")
    if "portal" not in {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}:
        ecr.create_repository(repositoryName="portal")
    if not ecr.list_images(repositoryName="portal")["imageIds"]:
        ecr.put_image(
            repositoryName="portal",
            imageManifest=stand_in_manifest("the portal service's image"),
            imageManifestMediaType=OCI_MANIFEST,
            imageTag="1.0.0",
        )


@pytest.mark.slow  # three deploys of the services: about 3 s
def test_platform_services_deploy_update_and_delete(cfn: Any, aws: Aws) -> None:
    _push_portal_image(aws)
    body = _services_template("def handler(event, context):\n    return 1\n")
    out = outputs(create_stack(cfn, "services", body, via_change_set=True))
    assert out["Custom"] == ""
    ecs = aws("ecs")
    service = ecs.describe_services(cluster="platform", services=[out["Service"]])["services"][0]
    assert service["loadBalancers"][0]["targetGroupArn"] == out["TargetGroup"]
    assert ecs.describe_clusters(clusters=["platform"])["clusters"][0]["capacityProviders"] == [
        "FARGATE",
        "FARGATE_SPOT",
    ]
    elbv2 = aws("elbv2")
    listener = elbv2.describe_listeners(
        LoadBalancerArn=elbv2.describe_load_balancers()["LoadBalancers"][0]["LoadBalancerArn"]
    )
    rules = elbv2.describe_rules(ListenerArn=listener["Listeners"][0]["ListenerArn"])["Rules"]
    assert any(r["Priority"] == "10" for r in rules)
    autoscaling = aws("application-autoscaling")
    target = autoscaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 3)
    assert out["Scaling"] == f"{target['ResourceId']}|ecs:service:DesiredCount|ecs"
    assert (
        autoscaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"][0]["PolicyName"]
        == "cpu"
    )
    alarm = aws("cloudwatch").describe_alarms(AlarmNames=[out["Alarm"]])["MetricAlarms"][0]
    assert alarm["AlarmActions"] == [out["Topic"]] and alarm["Threshold"] == 90
    lambda_ = aws("lambda")
    invoke_config = lambda_.get_function_event_invoke_config(FunctionName=out["Function"])
    assert invoke_config["MaximumRetryAttempts"] == 0
    policy = json.loads(lambda_.get_policy(FunctionName=out["Function"])["Policy"])
    assert policy["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
    assert lambda_.get_function(FunctionName=out["Processor"])["Configuration"]["Handler"] == "app.handler"
    iam = aws("iam")
    attached = iam.list_attached_role_policies(RoleName=out["Role"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [out["SharedPolicy"]]
    assert aws("ssm").get_parameter(Name="/platform/cluster")["Parameter"]["Value"] == "platform"
    first_sha = lambda_.get_function(FunctionName=out["Function"])["Configuration"]["CodeSha256"]

    update_stack(cfn, "services", _services_template("def handler(event, context):\n    return 2\n"))
    assert describe(cfn, "services")["StackStatus"] == "UPDATE_COMPLETE"
    assert lambda_.get_function(FunctionName=out["Function"])["Configuration"]["CodeSha256"] != first_sha

    delete_stack(cfn, "services")
    assert ecs.describe_clusters(clusters=["platform"])["clusters"][0]["status"] == "INACTIVE"
    assert (
        ecs.describe_services(cluster="platform", services=[out["Service"]])["services"][0]["status"]
        == "INACTIVE"
    )
    assert ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"] == []
    assert not [lb for lb in elbv2.describe_load_balancers()["LoadBalancers"] if lb["DNSName"] == out["Alb"]]
    assert out["TargetGroup"] not in [
        g["TargetGroupArn"] for g in elbv2.describe_target_groups()["TargetGroups"]
    ]
    assert autoscaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    assert aws("cloudwatch").describe_alarms(AlarmNames=[out["Alarm"]])["MetricAlarms"] == []
    functions = [f["FunctionName"] for f in lambda_.list_functions()["Functions"]]
    assert out["Function"] not in functions and out["Processor"] not in functions
    assert out["SharedPolicy"] not in [p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]]
    assert out["Repository"] not in [
        r["repositoryName"] for r in aws("ecr").describe_repositories()["repositories"]
    ]
    assert aws("logs").describe_log_groups(logGroupNamePrefix=out["Logs"])["logGroups"] == []
    assert {"TopicArn": out["Topic"]} not in aws("sns").list_topics()["Topics"]


def _edge_template(description: str, statement_action: str) -> str:
    tags = [{"Key": "component", "Value": "edge"}]
    return template(
        {
            **NETWORK,
            "Key": {
                "Type": "AWS::KMS::Key",
                "DeletionPolicy": "Delete",
                "Properties": {
                    "Description": description,
                    "EnableKeyRotation": True,
                    "KeyPolicy": {"Version": "2012-10-17", "Statement": []},
                    "Tags": tags,
                },
            },
            "Certificate": {
                "Type": "AWS::CertificateManager::Certificate",
                "Properties": {
                    "DomainName": "portal.example.test",
                    "SubjectAlternativeNames": ["pipelines.example.test"],
                    "ValidationMethod": "DNS",
                    "Tags": tags,
                },
            },
            "Origin": {
                "Type": "AWS::CloudFront::VpcOrigin",
                "Properties": {
                    "VpcOriginEndpointConfig": {
                        "Arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/1",
                        "Name": "internal-alb",
                        "OriginProtocolPolicy": "https-only",
                    }
                },
            },
            "Cdn": {
                "Type": "AWS::CloudFront::Distribution",
                "Properties": {
                    "DistributionConfig": {
                        "Enabled": True,
                        "Origins": [
                            {
                                "Id": "alb",
                                "DomainName": "internal-x.us-east-1.elb.amazonaws.com",
                                "VpcOriginConfig": {"VpcOriginId": {"Fn::GetAtt": ["Origin", "Id"]}},
                            }
                        ],
                        "DefaultCacheBehavior": {
                            "TargetOriginId": "alb",
                            "ViewerProtocolPolicy": "https-only",
                        },
                    }
                },
            },
            "RedisSubnets": {
                "Type": "AWS::ElastiCache::SubnetGroup",
                "Properties": {"Description": "redis", "SubnetIds": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}]},
            },
            "Redis": {
                "Type": "AWS::ElastiCache::ReplicationGroup",
                "Properties": {
                    "ReplicationGroupDescription": description,
                    "Engine": "redis",
                    "CacheNodeType": "cache.t4g.micro",
                    "NumCacheClusters": 1,
                    "Port": 6380,
                    "CacheSubnetGroupName": {"Ref": "RedisSubnets"},
                },
            },
            "Namespace": {
                "Type": "AWS::ServiceDiscovery::PrivateDnsNamespace",
                "Properties": {"Name": "platform.internal", "Vpc": {"Ref": "Vpc"}},
            },
            "Discovery": {
                "Type": "AWS::ServiceDiscovery::Service",
                "Properties": {
                    "Name": "prefect-api",
                    "NamespaceId": {"Fn::GetAtt": ["Namespace", "Id"]},
                    "DnsConfig": {"DnsRecords": [{"TTL": 10, "Type": "A"}], "RoutingPolicy": "MULTIVALUE"},
                },
            },
            "Failures": {"Type": "AWS::SQS::Queue"},
            "FailuresPolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [{"Ref": "Failures"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Action": "sqs:*",
                                "Resource": {"Fn::GetAtt": ["Failures", "Arn"]},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    },
                },
            },
            "DeployRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": ASSUME_LAMBDA},
            },
            "Deploy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "Roles": [{"Ref": "DeployRole"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": statement_action, "Resource": "*"}],
                    },
                },
            },
        },
        outputs={
            "Key": {"Ref": "Key"},
            "Certificate": {"Ref": "Certificate"},
            "Origin": {"Fn::GetAtt": ["Origin", "Id"]},
            "Cdn": {"Ref": "Cdn"},
            "Redis": {"Ref": "Redis"},
            "RedisHost": {"Fn::GetAtt": ["Redis", "PrimaryEndPoint.Address"]},
            "RedisPort": {"Fn::GetAtt": ["Redis", "PrimaryEndPoint.Port"]},
            "RedisSubnets": {"Ref": "RedisSubnets"},
            "Namespace": {"Ref": "Namespace"},
            "Discovery": {"Fn::GetAtt": ["Discovery", "Arn"]},
            "Queue": {"Ref": "Failures"},
            "Policy": {"Ref": "Deploy"},
        },
    )


@pytest.mark.slow  # about 2 s
def test_edge_cache_discovery_and_queue_policy_types(cfn: Any, aws: Aws) -> None:
    out = outputs(create_stack(cfn, "edge", _edge_template("first", "s3:GetObject")))
    kms = aws("kms")
    key = kms.describe_key(KeyId=out["Key"])["KeyMetadata"]
    assert key["Description"] == "first" and key["KeyState"] == "Enabled"
    assert kms.list_resource_tags(KeyId=out["Key"])["Tags"] == [{"TagKey": "component", "TagValue": "edge"}]
    assert kms.get_key_rotation_status(KeyId=out["Key"])["KeyRotationEnabled"] is True
    certificate = aws("acm").describe_certificate(CertificateArn=out["Certificate"])["Certificate"]
    assert certificate["DomainName"] == "portal.example.test"
    assert "pipelines.example.test" in certificate["SubjectAlternativeNames"]
    assert out["Origin"].startswith("vo_")
    origin = aws("cloudfront").get_distribution(Id=out["Cdn"])["Distribution"]["DistributionConfig"][
        "Origins"
    ]
    assert origin["Items"][0]["Id"] == "alb"
    elasticache = aws("elasticache")
    group = elasticache.describe_replication_groups(ReplicationGroupId=out["Redis"])["ReplicationGroups"][0]
    assert group["Description"] == "first" and out["RedisPort"] == "6380" and out["RedisHost"]
    assert elasticache.describe_cache_subnet_groups(CacheSubnetGroupName=out["RedisSubnets"])[
        "CacheSubnetGroups"
    ]
    discovery = aws("servicediscovery")
    assert discovery.get_namespace(Id=out["Namespace"])["Namespace"]["Name"] == "platform.internal"
    assert [s["Arn"] for s in discovery.list_services()["Services"]] == [out["Discovery"]]
    policy = aws("sqs").get_queue_attributes(QueueUrl=out["Queue"], AttributeNames=["Policy"])["Attributes"]
    assert json.loads(policy["Policy"])["Statement"][0]["Action"] == "sqs:*"

    update_stack(cfn, "edge", _edge_template("second", "s3:PutObject"))
    assert kms.describe_key(KeyId=out["Key"])["KeyMetadata"]["Description"] == "second"
    group = elasticache.describe_replication_groups(ReplicationGroupId=out["Redis"])["ReplicationGroups"][0]
    assert group["Description"] == "second"
    iam = aws("iam")
    version = iam.get_policy(PolicyArn=out["Policy"])["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=out["Policy"], VersionId=version)["PolicyVersion"]["Document"]
    assert "s3:PutObject" in json.dumps(document)

    delete_stack(cfn, "edge")
    assert kms.describe_key(KeyId=out["Key"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    certificates = aws("acm").list_certificates()["CertificateSummaryList"]
    assert out["Certificate"] not in [c["CertificateArn"] for c in certificates]
    assert out["Redis"] not in [
        g["ReplicationGroupId"] for g in elasticache.describe_replication_groups()["ReplicationGroups"]
    ]
    assert discovery.list_services()["Services"] == [] and discovery.list_namespaces()["Namespaces"] == []
    assert out["Cdn"] not in [
        d["Id"] for d in aws("cloudfront").list_distributions()["DistributionList"].get("Items", [])
    ]


def test_cluster_snapshot_deletion_policy(cfn: Any, aws: Aws) -> None:
    body = template(
        {
            "Cluster": {
                "Type": "AWS::RDS::DBCluster",
                "DeletionPolicy": "Snapshot",
                "Properties": {
                    "Engine": "aurora-postgresql",
                    "MasterUsername": "u",
                    "MasterUserPassword": "password1",
                },
            }
        },
        outputs={"Id": {"Ref": "Cluster"}},
    )
    out = outputs(create_stack(cfn, "rds-snapshot", body))
    delete_stack(cfn, "rds-snapshot")
    snapshots = aws("rds").describe_db_cluster_snapshots(DBClusterIdentifier=out["Id"], SnapshotType="manual")
    assert [
        s["DBClusterSnapshotIdentifier"].startswith(f"{out['Id']}-snapshot-")
        for s in snapshots["DBClusterSnapshots"]
    ] == [True]


def test_a_metric_filter_is_put_on_its_log_group_and_removed_with_the_stack(cfn: Any, aws: Aws) -> None:
    # GIVEN a log group and a metric filter on it (the late-flow-runs alarm's source)
    body = template(
        {
            "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/blog/filtered"}},
            "Late": {
                "Type": "AWS::Logs::MetricFilter",
                "Properties": {
                    "LogGroupName": {"Ref": "Logs"},
                    "FilterPattern": '"mark_flow_run_late"',
                    "MetricTransformations": [
                        {"MetricName": "LateFlowRuns", "MetricNamespace": "Blog/Prefect", "MetricValue": "1"}
                    ],
                },
            },
        },
        outputs={"Filter": {"Ref": "Late"}},
    )
    # WHEN the stack is created
    stack = create_stack(cfn, "metric-filter", body, via_change_set=True)
    # THEN Logs has the filter under the name Ref gives, with its metric
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    name = outputs(stack)["Filter"]
    [found] = aws("logs").describe_metric_filters(logGroupName="/blog/filtered")["metricFilters"]
    assert found["filterName"] == name and found["filterPattern"] == '"mark_flow_run_late"'
    assert found["metricTransformations"][0]["metricName"] == "LateFlowRuns"
    # AND deleting the stack deletes it
    delete_stack(cfn, "metric-filter")
    assert not aws("logs").describe_metric_filters(filterNamePrefix=name)["metricFilters"]


def test_a_metric_filter_on_a_missing_log_group_fails_the_stack(cfn: Any) -> None:
    body = template(
        {
            "Late": {
                "Type": "AWS::Logs::MetricFilter",
                "Properties": {
                    "LogGroupName": "/blog/missing",
                    "FilterPattern": "x",
                    "MetricTransformations": [
                        {"MetricName": "M", "MetricNamespace": "N", "MetricValue": "1"}
                    ],
                },
            }
        }
    )
    cfn.create_stack(StackName="metric-filter-missing", TemplateBody=body)
    stack = describe(cfn, "metric-filter-missing")
    assert stack["StackStatus"] != "CREATE_COMPLETE"
    assert "The specified log group does not exist: '/blog/missing'" in stack["StackStatusReason"]
