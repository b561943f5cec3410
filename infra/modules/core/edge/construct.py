"""The edge: CloudFront in front of an internal Application Load Balancer, reached as a VPC origin."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from aws_cdk import CfnOutput, Duration, RemovalPolicy, SecretValue, Stack, Token
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.region_info import RegionInfo
from constructs import Construct

from infra.dns import (
    DISTRIBUTION_DOMAIN_OUTPUT,
    ORIGIN_CURRENT_KEY,
    ORIGIN_HEADER,
    ORIGIN_PREVIOUS_KEY,
    ORIGIN_SECRET_LOGICAL_ID,
    DnsRecord,
    hostname_record,
)
from infra.modules.stateful import pin_logical_id

CLOUDFRONT_CERTIFICATE_REGION = "us-east-1"
CLOUDFRONT_ORIGIN_FACING_PREFIX_LISTS = {"us-east-1": "pl-3b927c52"}
"""Id of the managed prefix list `com.amazonaws.global.cloudfront.origin-facing`, per region."""
MAX_RULE_PRIORITY = 50000

_DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_PREFIX_LIST_ID = re.compile(r"^pl-[0-9a-f]{8,17}$")
_SECRET_VERSION = re.compile(r"^[A-Za-z0-9-]{32,64}$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")


ORIGIN_VALUE_LENGTH = 64
"""Characters of a generated origin-lock value: letters and digits only. ALB header conditions treat `*`
and `?` as wildcards and compare case-insensitively (ELB docs, rule-condition-types: "HTTP header
conditions"), so punctuation is excluded and the length makes up for the case folding (36^64)."""
FORBIDDEN_STATUS = 403
FORBIDDEN_BODY = "Forbidden"
"""Body of the fixed response to anything that did not come through Cloudflare: it names nothing."""

LOAD_BALANCER_LOG_PREFIX = "alb"
ELB_LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"


@dataclass(frozen=True, kw_only=True)
class EdgeProps:
    """Inputs of the edge module."""

    vpc: ec2.IVpc
    """VPC of the load balancer."""
    subnets: ec2.SubnetSelection
    """Subnets of the internal load balancer: the private application subnets."""
    domain: str
    """Apex domain, e.g. `rocketclub.online`; every hostname lives under it."""
    hostnames: tuple[str, ...]
    """Hostnames served, e.g. `portal.rocketclub.online`: CloudFront aliases and certificate names."""
    cloudfront_prefix_list_id: str
    """Id of the `com.amazonaws.global.cloudfront.origin-facing` prefix list in the stack's region
    (`CLOUDFRONT_ORIGIN_FACING_PREFIX_LISTS`); the only source the load balancer admits."""
    certificate_arn: str | None = None
    """ARN of an issued us-east-1 ACM certificate covering every hostname. None creates one, validated
    by DNS records created in Cloudflare; the deploy waits until they exist."""
    deletion_protection: bool = True
    """Refuse deletion of the load balancer."""
    log_retention: Duration = field(default_factory=lambda: Duration.days(90))
    """Access logs of CloudFront and of the load balancer are deleted after this."""
    price_class: cloudfront.PriceClass = cloudfront.PriceClass.PRICE_CLASS_100
    """CloudFront edge locations used; the default is North America and Europe."""
    origin_secret_key: kms.IKey | None = None
    """Customer-managed key that encrypts the origin-lock secret; None: Secrets Manager's AWS-managed
    key."""
    origin_secret_name: str | None = None
    """Name of the secret holding the origin-lock header's values (`current`, and `previous` during a
    rotation); None lets CloudFormation name it."""
    origin_secret_version: str | None = None
    """Version id of that secret the listener rules resolve. CloudFormation re-reads a secret only when
    the resource's reference changes, so each rotation records the new version here; None: the version
    current when the rules are created."""
    accept_previous_origin_value: bool = False
    """During a rotation: every route also accepts the secret's `previous` value, so requests Cloudflare
    still sends with it keep working until its rule carries the new one. Needs `origin_secret_version`."""


class Edge(Construct):
    """CloudFront (TLS 1.2+, HTTP/2 and 3, no caching, access logs) -> CloudFront VPC origin ->
    internal HTTPS-only Application Load Balancer that routes by host header to target groups."""

    def __init__(self, scope: Construct, id: str, *, props: EdgeProps) -> None:
        super().__init__(scope, id)
        region = self._validate(props)
        self.domain = props.domain
        self.hostnames = props.hostnames
        self._priorities: set[int] = set()

        self.certificate = self._certificate(props)
        self.load_balancer_certificate = (
            self.certificate
            if region == CLOUDFRONT_CERTIFICATE_REGION
            else self._new_certificate("LoadBalancerCertificate", props)
        )
        self.cloudfront_log_bucket = self._log_bucket(
            "CloudFrontLogs",
            "EdgeCloudFrontLogBucket",
            props,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        )
        self.load_balancer_log_bucket = self._log_bucket(
            "LoadBalancerLogs",
            "EdgeLoadBalancerLogBucket",
            props,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        )

        self.origin_secret = self._origin_secret(props)
        self.origin_header_values = self._origin_values(props)
        """The values every route accepts in `ORIGIN_HEADER`: dynamic references, never the values."""

        self.security_group = ec2.SecurityGroup(
            self,
            "LoadBalancerSecurityGroup",
            vpc=props.vpc,
            description="Internal ALB of the blog platform: HTTPS from CloudFront only",
            allow_all_outbound=False,
        )
        self.security_group.add_ingress_rule(
            ec2.Peer.prefix_list(props.cloudfront_prefix_list_id),
            ec2.Port.tcp(443),
            "HTTPS from CloudFront origin-facing servers (VPC origin)",
        )
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=props.vpc,
            vpc_subnets=props.subnets,
            internet_facing=False,
            security_group=self.security_group,
            drop_invalid_header_fields=True,
            deletion_protection=props.deletion_protection,
        )
        self._log_load_balancer_access(LOAD_BALANCER_LOG_PREFIX)
        self.listener = self.load_balancer.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            certificates=[elbv2.ListenerCertificate.from_certificate_manager(self.load_balancer_certificate)],
            # Every request that no route takes, including any without the origin header.
            default_action=elbv2.ListenerAction.fixed_response(
                FORBIDDEN_STATUS, content_type="text/plain", message_body=FORBIDDEN_BODY
            ),
            open=False,
        )

        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"Blog platform edge: {', '.join(props.hostnames)}",
            domain_names=list(props.hostnames),
            certificate=self.certificate,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            ssl_support_method=cloudfront.SSLMethod.SNI,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_ipv6=True,
            price_class=props.price_class,
            enable_logging=True,
            log_bucket=self.cloudfront_log_bucket,
            log_file_prefix="cloudfront/",
            log_includes_cookies=False,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.VpcOrigin.with_application_load_balancer(
                    self.load_balancer,
                    protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
                    origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
                ),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                # allViewer: every viewer header goes to the origin (CloudFront docs,
                # OriginRequestPolicyHeadersConfig), Cloudflare's ORIGIN_HEADER among them. CloudFront
                # adds no origin custom header: one would reach the ALB on requests that bypassed
                # Cloudflare too (README: origin lock).
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER,
                compress=True,
            ),
        )
        output = CfnOutput(
            self,
            DISTRIBUTION_DOMAIN_OUTPUT,
            value=self.distribution.distribution_domain_name,
            description="Domain of the CloudFront distribution; the Cloudflare CNAMEs point to it.",
        )
        output.override_logical_id(DISTRIBUTION_DOMAIN_OUTPUT)

        domain_name = self.distribution.distribution_domain_name
        self.dns_records: list[DnsRecord] = [hostname_record(host, domain_name) for host in props.hostnames]

    def add_host_route(
        self, *, host: str, target_group: elbv2.IApplicationTargetGroup, priority: int
    ) -> elbv2.ApplicationListenerRule:
        """Forward HTTPS requests whose Host header is `host` and that carry the origin header with an
        accepted value to `target_group`; the rest fall to the default action (403).

        Health checks do not pass through these rules: each load balancer node sends them straight to
        the registered targets with the target group's settings (ELB docs, "Health checks for
        Application Load Balancer target groups"), so they need no header."""
        if host not in self.hostnames:
            raise ValueError(
                f"Edge cannot route {host!r}: it is not one of the hostnames {', '.join(self.hostnames)} "
                f"under {self.domain}; add it to EdgeProps.hostnames first"
            )
        if not 1 <= priority <= MAX_RULE_PRIORITY:
            raise ValueError(f"Edge route priority {priority} must be between 1 and {MAX_RULE_PRIORITY}")
        if priority in self._priorities:
            raise ValueError(f"Edge route priority {priority} is already used by another route; pick another")
        self._priorities.add(priority)
        label = host.removesuffix(f".{self.domain}")
        construct_id = "".join(part.capitalize() for part in re.split(r"[.-]", label)) + f"Route{priority}"
        return elbv2.ApplicationListenerRule(
            self,
            construct_id,
            listener=self.listener,
            priority=priority,
            conditions=[
                elbv2.ListenerCondition.host_headers([host]),
                elbv2.ListenerCondition.http_header(ORIGIN_HEADER, list(self.origin_header_values)),
            ],
            action=elbv2.ListenerAction.forward([target_group]),
        )

    def _origin_secret(self, props: EdgeProps) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            "OriginVerifySecret",
            secret_name=props.origin_secret_name,
            description="Origin lock: the header value Cloudflare adds and the load balancer requires.",
            encryption_key=props.origin_secret_key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({}),
                generate_string_key=ORIGIN_CURRENT_KEY,
                exclude_punctuation=True,
                include_space=False,
                password_length=ORIGIN_VALUE_LENGTH,
            ),
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        pin_logical_id(secret, ORIGIN_SECRET_LOGICAL_ID)
        return secret

    def _origin_values(self, props: EdgeProps) -> tuple[str, ...]:
        """`{{resolve:secretsmanager:...}}` references: CloudFormation resolves them in any resource
        property and neither it nor Secrets Manager logs the value (CloudFormation docs,
        dynamic-references-secretsmanager); the template holds only the reference."""
        keys = [ORIGIN_CURRENT_KEY]
        if props.accept_previous_origin_value:
            keys.append(ORIGIN_PREVIOUS_KEY)
        return tuple(
            SecretValue.secrets_manager(
                self.origin_secret.secret_arn, json_field=key, version_id=props.origin_secret_version
            ).unsafe_unwrap()
            for key in keys
        )

    def _log_load_balancer_access(self, prefix: str) -> None:
        """Send the ALB's access logs under `prefix/` of its log bucket.

        The bucket policy admits only the writer ELB uses in this region: the regional ELB account
        where there is one, else ELB's log-delivery service, scoped to this account's load balancers.
        (CDK's `log_access_logs` also admits `delivery.logs.amazonaws.com`, which only network load
        balancers use, without source conditions.)
        """
        stack = Stack.of(self)
        bucket = self.load_balancer_log_bucket
        for key, value in (
            ("access_logs.s3.enabled", "true"),
            ("access_logs.s3.bucket", bucket.bucket_name),
            ("access_logs.s3.prefix", prefix),
        ):
            self.load_balancer.set_attribute(key, value)
        elb_account = (
            None if Token.is_unresolved(stack.region) else RegionInfo.get(stack.region).elbv2_account
        )
        if elb_account:
            principal: iam.IPrincipal = iam.AccountPrincipal(elb_account)
            conditions: dict[str, object] = {}
        else:
            principal = iam.ServicePrincipal(ELB_LOG_DELIVERY_SERVICE)
            conditions = {
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {
                    "aws:SourceArn": stack.format_arn(
                        service="elasticloadbalancing", resource="loadbalancer", resource_name="*"
                    )
                },
            }
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                principals=[principal],
                resources=[bucket.arn_for_objects(f"{prefix}/AWSLogs/{stack.account}/*")],
                conditions=conditions or None,
            )
        )
        assert bucket.policy is not None
        self.load_balancer.node.add_dependency(bucket.policy)

    def _validate(self, props: EdgeProps) -> str:
        """Check the props; return the stack's region."""
        if not _DNS_NAME.fullmatch(props.domain):
            raise ValueError(f"Edge domain {props.domain!r} must be a DNS name such as rocketclub.online")
        if not props.hostnames:
            raise ValueError("Edge needs at least one hostname, e.g. portal.rocketclub.online")
        if len(set(props.hostnames)) != len(props.hostnames):
            raise ValueError(f"Edge hostnames must be distinct: {', '.join(props.hostnames)}")
        for hostname in props.hostnames:
            if not _DNS_NAME.fullmatch(hostname) or not hostname.endswith(f".{props.domain}"):
                raise ValueError(
                    f"Edge hostname {hostname!r} must be a lowercase DNS name under {props.domain}, "
                    f"e.g. portal.{props.domain}"
                )
        if not _PREFIX_LIST_ID.fullmatch(props.cloudfront_prefix_list_id):
            raise ValueError(
                f"Edge cloudfront_prefix_list_id {props.cloudfront_prefix_list_id!r} must be the id (pl-...) "
                "of com.amazonaws.global.cloudfront.origin-facing in the stack's region, "
                "e.g. pl-3b927c52 in us-east-1"
            )
        if props.origin_secret_version is not None and not _SECRET_VERSION.fullmatch(
            props.origin_secret_version
        ):
            raise ValueError(
                f"Edge origin_secret_version {props.origin_secret_version!r} must be a Secrets Manager "
                "version id (32 to 64 letters, digits or '-')"
            )
        if props.accept_previous_origin_value and props.origin_secret_version is None:
            raise ValueError(
                "Edge accept_previous_origin_value needs origin_secret_version: the previous value exists "
                "only in the version a rotation wrote"
            )
        if props.origin_secret_name is not None and not _SECRET_NAME.fullmatch(props.origin_secret_name):
            raise ValueError(
                f"Edge origin_secret_name {props.origin_secret_name!r} must be a Secrets Manager name "
                "(letters, digits and /_+=.@-)"
            )
        try:
            retention_days = props.log_retention.to_days()
        except Exception:
            raise ValueError("Edge log_retention must be whole days, e.g. Duration.days(90)") from None
        if retention_days < 1:
            raise ValueError("Edge log_retention must be at least one day")
        region = Stack.of(self).region
        if Token.is_unresolved(region):
            raise ValueError("Edge needs a stack with an explicit region (env=Environment(region=...))")
        if props.certificate_arn is None:
            if region != CLOUDFRONT_CERTIFICATE_REGION:
                raise ValueError(
                    f"Edge in {region} needs certificate_arn: CloudFront only accepts certificates from "
                    f"{CLOUDFRONT_CERTIFICATE_REGION}; issue one there for {', '.join(props.hostnames)} "
                    "and pass its ARN (a companion us-east-1 stack that creates it is not built yet)"
                )
        elif not Token.is_unresolved(props.certificate_arn):
            match = _CERTIFICATE_ARN.fullmatch(props.certificate_arn)
            if match is None or match.group(1) != CLOUDFRONT_CERTIFICATE_REGION:
                raise ValueError(
                    f"Edge certificate_arn {props.certificate_arn!r} must be the ARN of an ACM certificate "
                    f"in {CLOUDFRONT_CERTIFICATE_REGION} (arn:aws:acm:{CLOUDFRONT_CERTIFICATE_REGION}:"
                    "<account>:certificate/<id>), as CloudFront requires"
                )
        return region

    def _certificate(self, props: EdgeProps) -> acm.ICertificate:
        if props.certificate_arn is not None:
            return acm.Certificate.from_certificate_arn(self, "Certificate", props.certificate_arn)
        return self._new_certificate("Certificate", props)

    def _new_certificate(self, construct_id: str, props: EdgeProps) -> acm.Certificate:
        return acm.Certificate(
            self,
            construct_id,
            domain_name=props.hostnames[0],
            subject_alternative_names=list(props.hostnames[1:]) or None,
            validation=acm.CertificateValidation.from_dns(),
        )

    def _log_bucket(
        self, construct_id: str, logical_id: str, props: EdgeProps, *, object_ownership: s3.ObjectOwnership
    ) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            construct_id,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=object_ownership,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=props.log_retention),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
            auto_delete_objects=False,
        )
        pin_logical_id(bucket, logical_id)
        return bucket
