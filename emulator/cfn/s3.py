"""S3: ``Bucket`` (moto ignored versioning, public access block, lifecycle, CORS, ownership and
bucket keys) and ``BucketPolicy`` (missing in moto)."""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.s3.models import FakeBucket, S3Backend, s3_backends
from moto.utilities.utils import get_partition

from emulator.cfn._base import Resource, ResourceError, as_bool, properties_of, tag_dict


def _backend(account_id: str, region_name: str) -> S3Backend:
    return s3_backends[account_id][get_partition(region_name)]


def _encryption(config: dict[str, Any]) -> dict[str, Any]:
    rules = config.get("ServerSideEncryptionConfiguration") or []
    if not rules:
        raise ResourceError("BucketEncryption needs a ServerSideEncryptionConfiguration rule")
    rule = rules[0]
    default = rule.get("ServerSideEncryptionByDefault") or {}
    by_default = {"SSEAlgorithm": default.get("SSEAlgorithm", "AES256")}
    if default.get("KMSMasterKeyID"):
        by_default["KMSMasterKeyID"] = default["KMSMasterKeyID"]
    api_rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": by_default}
    if "BucketKeyEnabled" in rule:
        api_rule["BucketKeyEnabled"] = "true" if as_bool(rule["BucketKeyEnabled"]) else "false"
    return {"Rule": api_rule}


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the shape moto parses from PutBucketLifecycleConfiguration."""
    api: dict[str, Any] = {"ID": rule.get("Id"), "Status": rule.get("Status", "Enabled")}
    tag_filters = rule.get("TagFilters") or []
    prefix = rule.get("Prefix")
    if tag_filters:
        tags = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tag_filters]
        api["Filter"] = (
            {"And": {"Prefix": prefix or "", "Tag": tags}} if prefix or len(tags) > 1 else {"Tag": tags[0]}
        )
    else:
        api["Filter"] = {"Prefix": prefix or ""}
    expiration: dict[str, Any] = {}
    if rule.get("ExpirationInDays") is not None:
        expiration["Days"] = str(rule["ExpirationInDays"])
    if rule.get("ExpirationDate"):
        expiration["Date"] = str(rule["ExpirationDate"])
    if rule.get("ExpiredObjectDeleteMarker") is not None:
        expiration["ExpiredObjectDeleteMarker"] = (
            "true" if as_bool(rule["ExpiredObjectDeleteMarker"]) else "false"
        )
    if expiration:
        api["Expiration"] = expiration
    noncurrent = rule.get("NoncurrentVersionExpiration") or (
        {"NoncurrentDays": rule["NoncurrentVersionExpirationInDays"]}
        if rule.get("NoncurrentVersionExpirationInDays") is not None
        else None
    )
    if noncurrent:
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": str(noncurrent["NoncurrentDays"])}
        if noncurrent.get("NewerNoncurrentVersions") is not None:
            api["NoncurrentVersionExpiration"]["NewerNoncurrentVersions"] = str(
                noncurrent["NewerNoncurrentVersions"]
            )
    transitions = list(rule.get("Transitions") or []) + (
        [rule["Transition"]] if rule.get("Transition") else []
    )
    if transitions:
        api["Transition"] = [
            {
                "StorageClass": t["StorageClass"],
                **({"Days": str(t["TransitionInDays"])} if t.get("TransitionInDays") is not None else {}),
                **({"Date": str(t["TransitionDate"])} if t.get("TransitionDate") else {}),
            }
            for t in transitions
        ]
    nv_transitions = list(rule.get("NoncurrentVersionTransitions") or []) + (
        [rule["NoncurrentVersionTransition"]] if rule.get("NoncurrentVersionTransition") else []
    )
    if nv_transitions:
        api["NoncurrentVersionTransition"] = [
            {
                "StorageClass": t["StorageClass"],
                "NoncurrentDays": str(t["TransitionInDays"]),
                **(
                    {"NewerNoncurrentVersions": str(t["NewerNoncurrentVersions"])}
                    if t.get("NewerNoncurrentVersions") is not None
                    else {}
                ),
            }
            for t in nv_transitions
        ]
    abort = rule.get("AbortIncompleteMultipartUpload")
    if abort:
        api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": str(abort["DaysAfterInitiation"])}
    return api


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {
        "AllowedMethod": list(rule.get("AllowedMethods") or []),
        "AllowedOrigin": list(rule.get("AllowedOrigins") or []),
    }
    if rule.get("AllowedHeaders"):
        api["AllowedHeader"] = list(rule["AllowedHeaders"])
    if rule.get("ExposedHeaders"):
        api["ExposeHeader"] = list(rule["ExposedHeaders"])
    if rule.get("MaxAge") is not None:
        api["MaxAgeSeconds"] = str(rule["MaxAge"])
    if rule.get("Id"):
        api["ID"] = str(rule["Id"])
    return api


class Bucket(Resource, CloudFormationModel):
    """``AWS::S3::Bucket`` whose configuration is readable through the S3 API.

    Replaces moto's model, which applied only encryption and tags, so versioning, the public
    access block, lifecycle rules, CORS and ownership controls of a template were lost. Deleting a
    bucket that still holds objects fails, as on AWS (moto reported success and kept it).
    """

    @staticmethod
    def cloudformation_name_type() -> str:
        return "BucketName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::Bucket"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn", "DomainName", "DualStackDomainName", "RegionalDomainName", "WebsiteURL")

    @property
    def bucket(self) -> FakeBucket:
        return _backend(self.account_id, self.region_name).get_bucket(self.physical_id)

    def attributes(self) -> dict[str, Any]:
        bucket = self.bucket
        return {
            "Arn": bucket.arn,
            "DomainName": bucket.domain_name,
            "DualStackDomainName": bucket.dual_stack_domain_name,
            "RegionalDomainName": bucket.regional_domain_name,
            "WebsiteURL": bucket.website_url,
        }

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Bucket:
        props = properties_of(cloudformation_json)
        name = str(props.get("BucketName") or resource_name).lower()
        backend = _backend(account_id, region_name)
        backend.create_bucket(name, region_name)
        resource = cls(name, account_id, region_name, {})
        resource._configure(props)
        return resource

    def _configure(self, props: dict[str, Any]) -> None:
        backend = _backend(self.account_id, self.region_name)
        name = self.physical_id
        old = self.properties

        versioning = props.get("VersioningConfiguration")
        if versioning:
            backend.put_bucket_versioning(name, str(versioning.get("Status", "Enabled")))
        elif old.get("VersioningConfiguration"):
            backend.put_bucket_versioning(name, "Suspended")

        block = props.get("PublicAccessBlockConfiguration")
        if block:
            backend.put_public_access_block(
                name,
                {
                    key: "true" if as_bool(block.get(key)) else "false"
                    for key in (
                        "BlockPublicAcls",
                        "IgnorePublicAcls",
                        "BlockPublicPolicy",
                        "RestrictPublicBuckets",
                    )
                },
            )
        elif old.get("PublicAccessBlockConfiguration"):
            backend.delete_public_access_block(name)

        encryption = props.get("BucketEncryption")
        if encryption:
            backend.put_bucket_encryption(name, _encryption(encryption))
        elif old.get("BucketEncryption"):
            backend.delete_bucket_encryption(name)

        lifecycle = props.get("LifecycleConfiguration")
        rules = list((lifecycle or {}).get("Rules") or [])
        if rules:
            backend.put_bucket_lifecycle(name, [_lifecycle_rule(rule) for rule in rules])
        elif old.get("LifecycleConfiguration"):
            backend.delete_bucket_lifecycle(name)

        cors = list((props.get("CorsConfiguration") or {}).get("CorsRules") or [])
        if cors:
            backend.put_bucket_cors(name, [_cors_rule(rule) for rule in cors])
        elif old.get("CorsConfiguration"):
            backend.delete_bucket_cors(name)

        ownership = list((props.get("OwnershipControls") or {}).get("Rules") or [])
        if ownership:
            backend.put_bucket_ownership_controls(name, ownership[0].get("ObjectOwnership"))
        elif old.get("OwnershipControls"):
            backend.delete_bucket_ownership_controls(name)

        tags = tag_dict(props.get("Tags"))
        if tags:
            backend.put_bucket_tagging(name, tags)
        elif old.get("Tags"):
            backend.delete_bucket_tagging(name)
        self.properties = props

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        if properties.get("BucketName") != self.properties.get("BucketName"):
            replacement = Bucket.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
            self.retire()
            return replacement
        self._configure(properties)
        return self

    def delete_resource(self) -> None:
        backend = _backend(self.account_id, self.region_name)
        if self.physical_id not in backend.buckets:
            return
        if self.bucket.keys:
            raise ResourceError(f"The bucket you tried to delete is not empty: {self.physical_id}")
        backend.delete_bucket(self.physical_id)


class BucketPolicy(Resource, CloudFormationModel):
    """``AWS::S3::BucketPolicy``, stored with PutBucketPolicy (readable with GetBucketPolicy)."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> BucketPolicy:
        props = properties_of(cloudformation_json)
        bucket = str(props.get("Bucket"))
        cls._put(bucket, props, account_id, region_name)
        return cls(bucket, account_id, region_name, props)

    @staticmethod
    def _put(bucket: str, props: dict[str, Any], account_id: str, region_name: str) -> None:
        document = props.get("PolicyDocument")
        text = document if isinstance(document, str) else json.dumps(document)
        _backend(account_id, region_name).put_bucket_policy(bucket, text.encode("utf-8"))

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        bucket = str(properties.get("Bucket"))
        if bucket != self.physical_id:
            self.delete_resource()
            self.physical_id = bucket
        self._put(bucket, properties, self.account_id, self.region_name)
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        backend = _backend(self.account_id, self.region_name)
        if self.physical_id in backend.buckets:
            backend.delete_bucket_policy(self.physical_id)
