"""CloudFront: ``Distribution``, missing in moto's CloudFormation."""

from __future__ import annotations

from typing import Any

from moto.cloudfront.models import CloudFrontBackend, cloudfront_backends
from moto.core.common_models import CloudFormationModel
from moto.utilities.utils import get_partition

from emulator import zones
from emulator.cfn._base import Resource, ResourceError, as_bool, properties_of, random_suffix, tag_list


def _backend(account_id: str, region_name: str) -> CloudFrontBackend:
    return cloudfront_backends[account_id][get_partition(region_name)]


def _items(values: Any) -> dict[str, Any]:
    values = list(values or [])
    return {"Quantity": len(values), "Items": values} if values else {"Quantity": 0}


def _origin(origin: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {
        "Id": origin["Id"],
        "DomainName": origin["DomainName"],
        "OriginPath": origin.get("OriginPath", ""),
        "CustomHeaders": _items(
            [
                {"HeaderName": h["HeaderName"], "HeaderValue": h["HeaderValue"]}
                for h in origin.get("OriginCustomHeaders") or []
            ]
        ),
    }
    for key in ("ConnectionAttempts", "ConnectionTimeout", "OriginAccessControlId", "OriginShield"):
        if key in origin:
            api[key] = origin[key]
    custom = origin.get("CustomOriginConfig")
    if custom is not None:
        api["CustomOriginConfig"] = {
            "HTTPPort": int(custom.get("HTTPPort", 80)),
            "HTTPSPort": int(custom.get("HTTPSPort", 443)),
            "OriginProtocolPolicy": custom.get("OriginProtocolPolicy", "https-only"),
            "OriginSslProtocols": _items(custom.get("OriginSSLProtocols") or ["TLSv1.2"]),
            "OriginReadTimeout": int(custom.get("OriginReadTimeout", 30)),
            "OriginKeepaliveTimeout": int(custom.get("OriginKeepaliveTimeout", 5)),
        }
    s3 = origin.get("S3OriginConfig")
    if s3 is not None:
        api["S3OriginConfig"] = {"OriginAccessIdentity": s3.get("OriginAccessIdentity", "")}
    vpc = origin.get("VpcOriginConfig")
    if vpc is not None:
        api["VpcOriginConfig"] = dict(vpc)
    if custom is None and s3 is None and vpc is None:
        raise ResourceError(
            f"origin {origin['Id']} needs CustomOriginConfig, S3OriginConfig or VpcOriginConfig"
        )
    return api


def _behavior(behavior: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {
        "TargetOriginId": behavior["TargetOriginId"],
        "ViewerProtocolPolicy": behavior.get("ViewerProtocolPolicy", "allow-all"),
        "AllowedMethods": {
            **_items(behavior.get("AllowedMethods") or ["GET", "HEAD"]),
            "CachedMethods": _items(behavior.get("CachedMethods") or ["GET", "HEAD"]),
        },
        "Compress": as_bool(behavior.get("Compress")),
    }
    for key in (
        "PathPattern",
        "CachePolicyId",
        "OriginRequestPolicyId",
        "ResponseHeadersPolicyId",
        "RealtimeLogConfigArn",
        "FieldLevelEncryptionId",
        "MinTTL",
        "DefaultTTL",
        "MaxTTL",
        "SmoothStreaming",
    ):
        if key in behavior:
            api[key] = behavior[key]
    forwarded = behavior.get("ForwardedValues")
    if forwarded:
        api["ForwardedValues"] = {
            "QueryString": as_bool(forwarded.get("QueryString")),
            "Cookies": dict(forwarded.get("Cookies") or {"Forward": "none"}),
            "Headers": _items(forwarded.get("Headers")),
            "QueryStringCacheKeys": _items(forwarded.get("QueryStringCacheKeys")),
        }
    functions = behavior.get("FunctionAssociations")
    if functions:
        api["FunctionAssociations"] = _items(functions)
    return api


def distribution_config(config: dict[str, Any], caller_reference: str) -> dict[str, Any]:
    """A CloudFormation ``DistributionConfig`` in the shape of the CloudFront API (Quantity/Items)."""
    if not config.get("DefaultCacheBehavior") or not config.get("Origins"):
        raise ResourceError("DistributionConfig needs Origins and DefaultCacheBehavior")
    api: dict[str, Any] = {
        "CallerReference": caller_reference,
        "Aliases": _items(config.get("Aliases")),
        "Origins": _items([_origin(o) for o in config["Origins"]]),
        "DefaultCacheBehavior": _behavior(config["DefaultCacheBehavior"]),
        "CacheBehaviors": _items([_behavior(b) for b in config.get("CacheBehaviors") or []]),
        "CustomErrorResponses": _items(config.get("CustomErrorResponses")),
        "Comment": config.get("Comment", ""),
        "Enabled": as_bool(config.get("Enabled"), True),
        "PriceClass": config.get("PriceClass", "PriceClass_All"),
        "HttpVersion": config.get("HttpVersion", "http1.1"),
        "IsIPV6Enabled": as_bool(config.get("IPV6Enabled"), False),
        "DefaultRootObject": config.get("DefaultRootObject", ""),
        "WebACLId": config.get("WebACLId", ""),
    }
    certificate = config.get("ViewerCertificate")
    if certificate:
        api["ViewerCertificate"] = {
            "CloudFrontDefaultCertificate": as_bool(certificate.get("CloudFrontDefaultCertificate")),
            "ACMCertificateArn": certificate.get("AcmCertificateArn", ""),
            "IAMCertificateId": certificate.get("IamCertificateId", ""),
            "SSLSupportMethod": certificate.get("SslSupportMethod", "sni-only"),
            "MinimumProtocolVersion": certificate.get("MinimumProtocolVersion", "TLSv1"),
        }
    logging_config = config.get("Logging")
    if logging_config:
        api["Logging"] = {
            "Enabled": True,
            "IncludeCookies": as_bool(logging_config.get("IncludeCookies")),
            "Bucket": logging_config.get("Bucket", ""),
            "Prefix": logging_config.get("Prefix", ""),
        }
    geo = (config.get("Restrictions") or {}).get("GeoRestriction")
    if geo:
        api["Restrictions"] = {
            "GeoRestriction": {
                "RestrictionType": geo.get("RestrictionType", "none"),
                **_items(geo.get("Locations")),
            }
        }
    return api


class Distribution(Resource, CloudFormationModel):
    """``AWS::CloudFront::Distribution``; Ref and ``Id`` give the id, ``DomainName`` the
    ``*.cloudfront.net`` name."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::Distribution"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Id", "DomainName")

    def attributes(self) -> dict[str, Any]:
        distribution, _ = _backend(self.account_id, self.region_name).get_distribution(self.physical_id)
        return {"Id": distribution.distribution_id, "DomainName": distribution.domain_name}

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Distribution:
        props = properties_of(cloudformation_json)
        reference = f"{kwargs.get('LogicalId', 'Distribution')}-{random_suffix()}"
        config = distribution_config(dict(props.get("DistributionConfig") or {}), reference)
        distribution, _, _ = _backend(account_id, region_name).create_distribution(
            distribution_config=config, tags=tag_list(props.get("Tags"))
        )
        resource = cls(distribution.distribution_id, account_id, region_name, props)
        resource.caller_reference = reference
        return resource

    caller_reference: str

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        backend = _backend(self.account_id, self.region_name)
        config = distribution_config(dict(properties.get("DistributionConfig") or {}), self.caller_reference)
        backend.update_distribution(config, self.physical_id, True)
        distribution, _ = backend.get_distribution(self.physical_id)
        backend.tagger.delete_all_tags_for_resource(distribution.arn)
        backend.tagger.tag_resource(distribution.arn, tag_list(properties.get("Tags")))
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        backend = _backend(self.account_id, self.region_name)
        if self.physical_id in backend.distributions:
            backend.delete_distribution(self.physical_id, True)


class VpcOrigin(Resource, CloudFormationModel):
    """``AWS::CloudFront::VpcOrigin`` (CloudFront to an internal load balancer). moto has no VPC-origin
    API, so the origin is only recorded; Ref and ``Id`` give a generated id, ``Arn`` its ARN."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::VpcOrigin"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Id", "Arn", "Status")

    def attributes(self) -> dict[str, Any]:
        return {
            "Id": self.physical_id,
            "Arn": f"arn:aws:cloudfront::{self.account_id}:vpcorigin/{self.physical_id}",
            "Status": "Deployed",
        }

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> VpcOrigin:
        props = properties_of(cloudformation_json)
        endpoint = props.get("VpcOriginEndpointConfig") or {}
        if not endpoint.get("Arn") or not endpoint.get("Name"):
            raise ResourceError("VpcOrigin needs VpcOriginEndpointConfig with Arn and Name")
        zones.refuse_vpc_origin(str(endpoint["Arn"]), account_id, region_name)
        return cls(f"vo_{random_suffix(22)}", account_id, region_name, props)
