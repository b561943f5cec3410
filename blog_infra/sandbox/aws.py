"""The part of a template's account that a worker calls, created on the local emulator.

The worker's ECS calls need the cluster, the flow runs' subnets and security groups, and its
observer's queue to exist in the template's account. `prepare_account` creates them on the emulator
in that account, with the names the sandbox's resolver gives them, and an access key that moto maps
to that account (the sandbox's own, for the ECS agent's calls; containers get their task role's
session instead). It returns the resolver overrides
for the ids the emulator chose (subnets, security groups, VPC), so that the containers' environment
and the published contract name the resources that exist there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from blog_infra.sandbox.platform import Emulator
from blog_infra.sandbox.taskdef import Resolver


@dataclass(frozen=True)
class PreparedAccount:
    emulator: Emulator
    overrides: dict[str, str]


def client(endpoint: str, service: str, *, region: str, account: str) -> Any:
    """A boto3 client acting in `account` on the emulator (moto's `x-moto-account-id` header)."""
    import boto3

    made = boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )

    def add_account(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account

    made.meta.events.register("before-sign.*.*", add_account)
    return made


def prepare_account(
    endpoint: str, template: Mapping[str, Any], *, account: str, region: str
) -> PreparedAccount:
    """Create the template's VPC, subnets, security groups, ECS cluster and SQS queues in `account`."""
    resources = template["Resources"]
    resolver = Resolver(template, account=account, region=region)

    def of(kind: str) -> dict[str, Any]:
        return {logical_id: r for logical_id, r in resources.items() if r["Type"] == kind}

    overrides: dict[str, str] = {}
    ec2 = client(endpoint, "ec2", region=region, account=account)
    for logical_id, vpc in of("AWS::EC2::VPC").items():
        made = ec2.create_vpc(CidrBlock=vpc["Properties"].get("CidrBlock", "10.0.0.0/16"))
        overrides[logical_id] = made["Vpc"]["VpcId"]
        for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
            if attribute in vpc["Properties"]:
                ec2.modify_vpc_attribute(
                    VpcId=overrides[logical_id], **{attribute: {"Value": bool(vpc["Properties"][attribute])}}
                )
        for logical_subnet, subnet in of("AWS::EC2::Subnet").items():
            properties = subnet["Properties"]
            if properties.get("VpcId") != {"Ref": logical_id}:
                continue
            created = ec2.create_subnet(
                VpcId=overrides[logical_id],
                CidrBlock=properties["CidrBlock"],
                AvailabilityZone=resolver.resolve(properties.get("AvailabilityZone", f"{region}a")),
            )
            overrides[logical_subnet] = created["Subnet"]["SubnetId"]
        for logical_group, group in of("AWS::EC2::SecurityGroup").items():
            if group["Properties"].get("VpcId") != {"Ref": logical_id}:
                continue
            created = ec2.create_security_group(
                GroupName=logical_group,
                Description=str(group["Properties"].get("GroupDescription", logical_group)),
                VpcId=overrides[logical_id],
            )
            overrides[logical_group] = created["GroupId"]
    resolver = Resolver(template, account=account, region=region, overrides=overrides)
    ecs = client(endpoint, "ecs", region=region, account=account)
    for logical_id in of("AWS::ECS::Cluster"):
        ecs.create_cluster(clusterName=resolver.ref(logical_id))
    sqs = client(endpoint, "sqs", region=region, account=account)
    for logical_id in of("AWS::SQS::Queue"):
        sqs.create_queue(QueueName=resolver.get_att(logical_id, "QueueName"))
    iam = client(endpoint, "iam", region=region, account=account)
    iam.create_user(UserName="sandbox-task-role")
    key = iam.create_access_key(UserName="sandbox-task-role")["AccessKey"]
    return PreparedAccount(
        emulator=Emulator(
            endpoint=endpoint, access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"]
        ),
        overrides=overrides,
    )
