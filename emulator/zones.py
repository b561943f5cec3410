"""Availability zones by id: the account shape's zone-name to zone-id mapping (AWS maps names to
physical zones per account), `AWS::EC2::Subnet` with `AvailabilityZoneId` (moto reads only
`AvailabilityZone`), and CloudFront's refusal of a VPC origin whose load balancer has a subnet in a
zone where VPC origins are not offered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moto.ec2.models import ec2_backends
from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend
from moto.ec2.models.subnets import Subnet
from moto.elbv2.models import elbv2_backends

from emulator import shape
from emulator.cfn._base import ResourceError
from infra.aws_facts import VPC_ORIGIN_UNSUPPORTED_ZONE_IDS

_original_create = Subnet.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def apply_zone_ids(mapping: Mapping[str, str]) -> None:
    """Give each named zone the zone id `mapping` says (the zone that held that id takes the named
    zone's old one, so ids stay unique in the region)."""
    for name, zone_id in mapping.items():
        zones = RegionsAndZonesBackend.zones.get(name[:-1], [])
        named = next((zone for zone in zones if zone.name == name), None)
        if named is None:
            raise ValueError(f"zone_ids: {name} is not a zone of {name[:-1]} in the emulator")
        holder = next((zone for zone in zones if zone.zone_id == zone_id and zone is not named), None)
        if holder is not None:
            holder.zone_id = named.zone_id
        named.zone_id = zone_id


def _create_subnet(
    cls: type[Subnet],
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Subnet:
    props = cloudformation_json.get("Properties", {})
    zone_id = props.get("AvailabilityZoneId")
    if zone_id and not props.get("AvailabilityZone"):
        zones = ec2_backends[account_id][region_name].describe_availability_zones()
        zone = next((z for z in zones if z.zone_id == zone_id), None)
        if zone is None:
            offered = ", ".join(sorted(z.zone_id for z in zones))
            raise ResourceError(
                f"Value ({zone_id}) for parameter availabilityZoneId is invalid. Subnets can currently "
                f"only be created in the following availability zone ids: {offered}."
            )
        cloudformation_json = {**cloudformation_json, "Properties": {**props, "AvailabilityZone": zone.name}}
    subnet: Subnet = _original_create(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    )
    return subnet


def refuse_vpc_origin(load_balancer_arn: str, account_id: str, region_name: str) -> None:
    """Fail as CloudFront does when the load balancer has a subnet in a zone without VPC origins."""
    backend = elbv2_backends[account_id][region_name]
    balancer = backend.load_balancers.get(load_balancer_arn)
    if balancer is None:
        return
    zone_ids = {subnet.availability_zone_id for subnet in balancer.subnets}
    unsupported = sorted(zone_ids & VPC_ORIGIN_UNSUPPORTED_ZONE_IDS)
    if unsupported:
        raise ResourceError(
            f'Resource handler returned message: "VPC origins are not supported in Availability Zone '
            f'{", ".join(unsupported)} of load balancer {load_balancer_arn}." (Service: CloudFront, '
            "Status Code: 400)"
        )


def install() -> None:
    """Apply the shape's zone ids, and teach subnets `AvailabilityZoneId` (idempotent)."""
    mapping = shape.current().zone_ids
    if mapping:
        apply_zone_ids(mapping)
    Subnet.create_from_cloudformation_json = classmethod(_create_subnet)  # type: ignore[method-assign,assignment,arg-type]
