"""core/edge: CloudFront -> VPC origin -> internal HTTPS ALB, with access logs and host routes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
from aws_cdk import Duration, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk.assertions import Match, Template

from infra.app import new_app
from infra.dns import DISTRIBUTION_DOMAIN_OUTPUT
from infra.modules.core.edge.construct import Edge, EdgeProps
from tests.unit.helpers import new_stack

DOMAIN = "rocketclub.online"
PORTAL = f"portal.{DOMAIN}"
PIPELINES = f"pipelines.{DOMAIN}"
PREFIX_LIST = "pl-3b927c52"
CERTIFICATE_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/0f3b1a52-7d7c-4b43-9e0b-2d1f6a9c8e11"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"


@dataclass
class Built:
    stack: Stack
    edge: Edge
    template: Template


def props(vpc: ec2.IVpc, **overrides: Any) -> EdgeProps:
    base = EdgeProps(
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        domain=DOMAIN,
        hostnames=(PORTAL, PIPELINES),
        cloudfront_prefix_list_id=PREFIX_LIST,
        log_retention=Duration.days(30),
    )
    return replace(base, **overrides)


def vpc_in(stack: Stack) -> ec2.Vpc:
    return ec2.Vpc(stack, "Vpc", availability_zones=[f"{stack.region}a", f"{stack.region}b"], nat_gateways=1)


@pytest.fixture(scope="module")
def built() -> Built:
    stack = new_stack()
    vpc = vpc_in(stack)
    edge = Edge(stack, "Edge", props=props(vpc))
    for name, port, priority in (("Portal", 7007, 10), ("Pipelines", 4200, 20)):
        group = elbv2.ApplicationTargetGroup(
            stack,
            f"{name}Targets",
            vpc=vpc,
            port=port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
        )
        edge.add_host_route(host=f"{name.lower()}.{DOMAIN}", target_group=group, priority=priority)
    return Built(stack, edge, Template.from_stack(stack))


@pytest.fixture(scope="module")
def template(built: Built) -> Template:
    return built.template


def only(template: Template, resource_type: str) -> dict[str, Any]:
    resources = template.find_resources(resource_type)
    assert len(resources) == 1, f"expected one {resource_type}, found {sorted(resources)}"
    return next(iter(resources.values()))  # type: ignore[no-any-return]


def logical_id(template: Template, resource_type: str) -> str:
    resources = template.find_resources(resource_type)
    assert len(resources) == 1
    return next(iter(resources))


# --- load balancer ---------------------------------------------------------------------------------------


def test_load_balancer_is_internal_drops_invalid_headers_and_is_protected(template: Template) -> None:
    # GIVEN the edge WHEN synthesized THEN the ALB has no public address and hardened attributes
    alb = only(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Properties"]
    assert alb["Scheme"] == "internal"
    attributes = {a["Key"]: a["Value"] for a in alb["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["deletion_protection.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == {"Ref": "EdgeLoadBalancerLogBucket"}
    assert attributes["access_logs.s3.prefix"] == "alb"
    assert [subnet["Ref"][: len("VpcPrivateSubnetN")] for subnet in alb["Subnets"]] == [
        "VpcPrivateSubnet1",
        "VpcPrivateSubnet2",
    ]


def test_security_group_admits_only_https_from_the_cloudfront_prefix_list(template: Template) -> None:
    # GIVEN the ALB's security group WHEN synthesized THEN its single ingress is 443 from the prefix list
    group_id = logical_id(template, "AWS::EC2::SecurityGroup")
    group = template.find_resources("AWS::EC2::SecurityGroup")[group_id]["Properties"]
    assert "SecurityGroupIngress" not in group
    ingress = [
        rule["Properties"]
        for rule in template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    assert ingress == [
        {
            "Description": "HTTPS from CloudFront origin-facing servers (VPC origin)",
            "FromPort": 443,
            "ToPort": 443,
            "IpProtocol": "tcp",
            "SourcePrefixListId": PREFIX_LIST,
            "GroupId": {"Fn::GetAtt": [group_id, "GroupId"]},
        }
    ]


def test_nothing_is_open_to_the_internet(template: Template) -> None:
    # GIVEN every security group rule WHEN synthesized THEN none admits 0.0.0.0/0 or ::/0
    rules = [r["Properties"] for r in template.find_resources("AWS::EC2::SecurityGroupIngress").values()]
    for group in template.find_resources("AWS::EC2::SecurityGroup").values():
        rules.extend(group["Properties"].get("SecurityGroupIngress", []))
    assert not [r for r in rules if r.get("CidrIp") == "0.0.0.0/0" or r.get("CidrIpv6") == "::/0"]


def test_security_group_egress_is_closed_until_targets_are_wired(template: Template) -> None:
    # GIVEN the ALB security group WHEN synthesized THEN it allows no outbound by default
    (egress,) = only(template, "AWS::EC2::SecurityGroup")["Properties"]["SecurityGroupEgress"]
    assert egress["CidrIp"] == "255.255.255.255/32"
    assert egress["Description"] == "Disallow all traffic"


def test_listener_is_https_only_with_the_recommended_policy_and_a_403_default(template: Template) -> None:
    # GIVEN the ALB WHEN synthesized THEN one HTTPS listener, TLS 1.3/1.2 policy, 403 by default (origin lock)
    listener = only(template, "AWS::ElasticLoadBalancingV2::Listener")["Properties"]
    assert listener["Port"] == 443
    assert listener["Protocol"] == "HTTPS"
    assert listener["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listener["Certificates"] == [
        {"CertificateArn": {"Ref": logical_id(template, "AWS::CertificateManager::Certificate")}}
    ]
    assert listener["DefaultActions"] == [
        {
            "Type": "fixed-response",
            "FixedResponseConfig": {
                "StatusCode": "403",
                "ContentType": "text/plain",
                "MessageBody": "Forbidden",
            },
        }
    ]


def test_host_routes_forward_each_hostname_to_its_target_group(template: Template) -> None:
    # GIVEN two host routes WHEN synthesized THEN each is a host-header rule with its priority
    rules = {
        r["Properties"]["Priority"]: r["Properties"]
        for r in template.find_resources("AWS::ElasticLoadBalancingV2::ListenerRule").values()
    }
    assert sorted(rules) == [10, 20]
    for priority, host, group in ((10, PORTAL, "PortalTargets"), (20, PIPELINES, "PipelinesTargets")):
        rule = rules[priority]
        assert rule["Conditions"][0] == {"Field": "host-header", "HostHeaderConfig": {"Values": [host]}}
        assert rule["Conditions"][1]["Field"] == "http-header"  # the origin lock: test_origin_lock
        (action,) = rule["Actions"]
        assert action["Type"] == "forward"
        assert action["TargetGroupArn"]["Ref"].startswith(group)


# --- CloudFront -------------------------------------------------------------------------------------------


def distribution(template: Template) -> dict[str, Any]:
    return only(template, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]  # type: ignore[no-any-return]


def test_distribution_serves_both_hostnames_over_modern_tls(template: Template) -> None:
    # GIVEN the distribution WHEN synthesized THEN both aliases, TLSv1.2_2021, SNI, HTTP/2 and 3
    config = distribution(template)
    assert config["Aliases"] == [PORTAL, PIPELINES]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": {"Ref": logical_id(template, "AWS::CertificateManager::Certificate")},
        "MinimumProtocolVersion": "TLSv1.2_2021",
        "SslSupportMethod": "sni-only",
    }
    assert config["HttpVersion"] == "http2and3"
    assert config["PriceClass"] == "PriceClass_100"
    assert config["Enabled"] is True


def test_default_behavior_redirects_to_https_and_does_not_cache(template: Template) -> None:
    # GIVEN the dynamic apps WHEN synthesized THEN caching is off and every viewer header (Host) is forwarded
    behavior = distribution(template)["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER
    assert set(behavior["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}


def test_origin_is_the_internal_alb_through_a_vpc_origin_over_https(template: Template) -> None:
    # GIVEN the origin WHEN synthesized THEN a private VPC origin, HTTPS only, no shared secret
    alb_id = logical_id(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    vpc_origin_id = logical_id(template, "AWS::CloudFront::VpcOrigin")
    endpoint = only(template, "AWS::CloudFront::VpcOrigin")["Properties"]["VpcOriginEndpointConfig"]
    assert endpoint["Arn"] == {"Ref": alb_id}
    assert endpoint["OriginProtocolPolicy"] == "https-only"
    assert endpoint["OriginSSLProtocols"] == ["TLSv1.2"]
    (origin,) = distribution(template)["Origins"]
    assert origin["VpcOriginConfig"] == {"VpcOriginId": {"Fn::GetAtt": [vpc_origin_id, "Id"]}}
    assert origin["DomainName"] == {"Fn::GetAtt": [alb_id, "DNSName"]}
    assert "CustomOriginConfig" not in origin
    assert "OriginCustomHeaders" not in origin


def test_distribution_logs_to_its_log_bucket(template: Template) -> None:
    # GIVEN the distribution WHEN synthesized THEN standard logs go to the CloudFront log bucket
    assert distribution(template)["Logging"] == {
        "Bucket": {"Fn::GetAtt": ["EdgeCloudFrontLogBucket", "RegionalDomainName"]},
        "IncludeCookies": False,
        "Prefix": "cloudfront/",
    }


def test_distribution_domain_is_a_stack_output(template: Template) -> None:
    # GIVEN the edge WHEN synthesized THEN the output `blog-infra dns plan` reads has its fixed key
    outputs = template.find_outputs(DISTRIBUTION_DOMAIN_OUTPUT)
    assert outputs[DISTRIBUTION_DOMAIN_OUTPUT]["Value"] == {
        "Fn::GetAtt": [logical_id(template, "AWS::CloudFront::Distribution"), "DomainName"]
    }


def test_dns_records_are_proxied_cnames_to_the_distribution(built: Built) -> None:
    # GIVEN the construct WHEN its DNS model is read THEN each hostname is a proxied CNAME to CloudFront
    distribution_id = logical_id(built.template, "AWS::CloudFront::Distribution")
    assert [(r.name, r.type, r.proxied) for r in built.edge.dns_records] == [
        (PORTAL, "CNAME", True),
        (PIPELINES, "CNAME", True),
    ]
    for record in built.edge.dns_records:
        assert built.stack.resolve(record.content) == {"Fn::GetAtt": [distribution_id, "DomainName"]}


# --- certificate -------------------------------------------------------------------------------------------


def test_certificate_covers_both_hostnames_and_validates_by_dns_outside_route53(template: Template) -> None:
    # GIVEN no certificate ARN WHEN synthesized THEN one DNS-validated certificate, no hosted zone
    certificate = only(template, "AWS::CertificateManager::Certificate")["Properties"]
    assert {certificate["DomainName"], *certificate["SubjectAlternativeNames"]} == {PORTAL, PIPELINES}
    assert certificate["ValidationMethod"] == "DNS"
    assert "DomainValidationOptions" not in certificate


def test_an_existing_certificate_is_imported_instead_of_created() -> None:
    # GIVEN a certificate ARN WHEN synthesized THEN none is requested; CloudFront and the ALB use it
    # (and deletion protection can be turned off, as the emulated environment does)
    stack = new_stack()
    unprotected = props(vpc_in(stack), certificate_arn=CERTIFICATE_ARN, deletion_protection=False)
    Edge(stack, "Edge", props=unprotected)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::CertificateManager::Certificate", 0)
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {
            "LoadBalancerAttributes": Match.array_with(
                [{"Key": "deletion_protection.enabled", "Value": "false"}]
            )
        },
    )
    assert distribution(template)["ViewerCertificate"]["AcmCertificateArn"] == CERTIFICATE_ARN
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener", {"Certificates": [{"CertificateArn": CERTIFICATE_ARN}]}
    )


def test_outside_us_east_1_the_alb_gets_a_regional_certificate() -> None:
    # GIVEN a stack in eu-west-1 and a us-east-1 certificate WHEN synthesized THEN the ALB gets its own one
    stack = Stack(new_app(), "Regional", env=Environment(account="123456789012", region="eu-west-1"))
    Edge(stack, "Edge", props=props(vpc_in(stack), certificate_arn=CERTIFICATE_ARN))
    template = Template.from_stack(stack)
    assert distribution(template)["ViewerCertificate"]["AcmCertificateArn"] == CERTIFICATE_ARN
    regional = logical_id(template, "AWS::CertificateManager::Certificate")
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener", {"Certificates": [{"CertificateArn": {"Ref": regional}}]}
    )


# --- log buckets --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bucket_id", "ownership"),
    [
        ("EdgeCloudFrontLogBucket", "BucketOwnerPreferred"),
        ("EdgeLoadBalancerLogBucket", "BucketOwnerEnforced"),
    ],
)
def test_log_buckets_are_private_encrypted_retained_and_expire(
    template: Template, bucket_id: str, ownership: str
) -> None:
    # GIVEN a log bucket (pinned id) WHEN synthesized THEN private, SSE-S3, retained, expiring
    resource = template.find_resources("AWS::S3::Bucket")[bucket_id]
    properties = resource["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": ownership}]}
    rules = {rule["Id"]: rule for rule in properties["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-access-logs"]["ExpirationInDays"] == 30
    assert resource["DeletionPolicy"] == "RetainExceptOnCreate"
    assert resource["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize("bucket_id", ["EdgeCloudFrontLogBucket", "EdgeLoadBalancerLogBucket"])
def test_log_buckets_deny_plain_http_and_old_tls(template: Template, bucket_id: str) -> None:
    # GIVEN a log bucket WHEN synthesized THEN its policy denies requests without TLS 1.2
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        ),
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}}}
                        ),
                    ]
                )
            },
        },
    )


def test_load_balancer_log_bucket_admits_elb_log_delivery(template: Template) -> None:
    # GIVEN ALB access logs WHEN synthesized THEN the bucket policy lets ELB write under the alb/ prefix only
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": "EdgeLoadBalancerLogBucket"},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": "s3:PutObject",
                                "Resource": {
                                    "Fn::Join": [
                                        "",
                                        [
                                            {"Fn::GetAtt": ["EdgeLoadBalancerLogBucket", "Arn"]},
                                            "/alb/AWSLogs/123456789012/*",
                                        ],
                                    ]
                                },
                            }
                        )
                    ]
                )
            },
        },
    )


# --- validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"domain": "Not A Domain"}, "must be a DNS name"),
        ({"hostnames": ()}, "at least one hostname"),
        ({"hostnames": (PORTAL, PORTAL)}, "must be distinct"),
        ({"hostnames": (PORTAL, "pipelines.example.com")}, "under rocketclub.online"),
        ({"hostnames": (PORTAL, DOMAIN)}, "under rocketclub.online"),
        ({"cloudfront_prefix_list_id": "sg-123"}, "origin-facing"),
        ({"log_retention": Duration.hours(36)}, "whole days"),
        ({"log_retention": Duration.days(0)}, "at least one day"),
        ({"certificate_arn": CERTIFICATE_ARN.replace("us-east-1", "eu-west-1")}, "must be the ARN of an ACM"),
        ({"certificate_arn": "not-an-arn"}, "must be the ARN of an ACM"),
    ],
)
def test_rejects_invalid_props(overrides: dict[str, Any], message: str) -> None:
    stack = new_stack()
    with pytest.raises(ValueError, match=message):
        Edge(stack, "Edge", props=props(vpc_in(stack), **overrides))


def test_outside_us_east_1_a_certificate_arn_is_required() -> None:
    stack = Stack(new_app(), "Regional", env=Environment(account="123456789012", region="eu-west-1"))
    with pytest.raises(
        ValueError, match="needs certificate_arn: CloudFront only accepts certificates from us-east-1"
    ):
        Edge(stack, "Edge", props=props(vpc_in(stack)))


def test_an_environment_agnostic_stack_is_rejected() -> None:
    stack = Stack(new_app(), "Agnostic")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2)
    with pytest.raises(ValueError, match="explicit region"):
        Edge(stack, "Edge", props=props(vpc))


@pytest.mark.parametrize(
    ("host", "priority", "message"),
    [
        ("www.rocketclub.online", 30, "not one of the hostnames"),
        ("portal.example.com", 30, "not one of the hostnames"),
        (PORTAL, 0, "between 1 and 50000"),
        (PORTAL, 50001, "between 1 and 50000"),
        (PORTAL, 10, "already used"),
    ],
)
def test_add_host_route_rejects_bad_routes(built: Built, host: str, priority: int, message: str) -> None:
    group = elbv2.ApplicationTargetGroup.from_target_group_attributes(
        built.stack,
        f"Imported{priority}{host.split('.')[0]}",
        target_group_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/0123456789abcdef",
    )
    with pytest.raises(ValueError, match=message):
        built.edge.add_host_route(host=host, target_group=group, priority=priority)
