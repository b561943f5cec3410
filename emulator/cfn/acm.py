"""Certificate Manager: ``Certificate``, missing in moto's CloudFormation."""

from __future__ import annotations

from typing import Any

from moto.acm.models import AWSCertificateManagerBackend, acm_backends
from moto.core.common_models import CloudFormationModel

from emulator.cfn._base import Resource, ResourceError, properties_of, tag_list


def _acm(account_id: str, region_name: str) -> AWSCertificateManagerBackend:
    return acm_backends[account_id][region_name]


class Certificate(Resource, CloudFormationModel):
    """``AWS::CertificateManager::Certificate``, requested through moto's ACM (DescribeCertificate
    shows it); Ref gives the ARN. No validation happens: nothing resolves DNS here."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CertificateManager::Certificate"

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
    ) -> Certificate:
        props = properties_of(cloudformation_json)
        if not props.get("DomainName"):
            raise ResourceError("Certificate needs DomainName")
        arn = _acm(account_id, region_name).request_certificate(
            domain_name=str(props["DomainName"]),
            idempotency_token=None,  # type: ignore[arg-type]
            subject_alt_names=[str(n) for n in props.get("SubjectAlternativeNames") or []],
            tags=tag_list(props.get("Tags")),
            cert_authority_arn=props.get("CertificateAuthorityArn"),
        )
        return cls(arn, account_id, region_name, props)

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        keys = ("DomainName", "SubjectAlternativeNames", "ValidationMethod", "CertificateAuthorityArn")
        if any(properties.get(k) != self.properties.get(k) for k in keys):
            replacement = Certificate.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
            self.delete_resource()
            return replacement
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        backend = _acm(self.account_id, self.region_name)
        if self.physical_id in backend._certificates:
            backend.delete_certificate(self.physical_id)
