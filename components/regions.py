"""The regions modelport knows per cloud, with their availability zones: a region is validated against this table.

The zone lists are what a prod target spreads over, so a zone given as a region (``us-east-1a``), another cloud's
region or a region that does not exist is refused before anything is planned. A region newer than this table is
accepted only with an explicit ``zones`` escape hatch on the target (``Target.zones``), which then supplies the
zone names the table would have given.

Sources: the providers' published region lists (AWS "Regions and Zones", Google Cloud "Regions and zones",
Azure "Azure regions with availability zone support"), as of 2026. AWS zones are the zone-name suffixes most
accounts see; which physical zone a suffix maps to differs per account, which does not change the count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from .validation import SpecError

__all__ = ["REGIONS", "region_zones", "suggest_region"]


def _zoned(table: str, separator: str) -> dict[str, tuple[str, ...]]:
    """``"region:zone-suffixes ..."`` into {region: zone names}."""
    regions = {}
    for entry in table.split():
        name, suffixes = entry.split(":")
        regions[name] = tuple(f"{name}{separator}{suffix}" for suffix in suffixes)
    return regions


_AWS = _zoned(
    "us-east-1:abcdef us-east-2:abc us-west-1:ac us-west-2:abcd af-south-1:abc ap-east-1:abc ap-east-2:abc "
    "ap-south-1:abc ap-south-2:abc ap-southeast-1:abc ap-southeast-2:abc ap-southeast-3:abc ap-southeast-4:abc "
    "ap-southeast-5:abc ap-southeast-6:abc ap-southeast-7:abc ap-northeast-1:acd ap-northeast-2:abcd "
    "ap-northeast-3:abc ca-central-1:abd ca-west-1:abc eu-central-1:abc eu-central-2:abc eu-west-1:abc "
    "eu-west-2:abc eu-west-3:abc eu-north-1:abc eu-south-1:abc eu-south-2:abc il-central-1:abc me-south-1:abc "
    "me-central-1:abc mx-central-1:abc sa-east-1:abc us-gov-east-1:abc us-gov-west-1:abc cn-north-1:abc "
    "cn-northwest-1:abc",
    "",
)
_GCP = _zoned(
    "us-central1:abcf us-east1:bcd us-east4:abc us-east5:abc us-south1:abc us-west1:abc us-west2:abc "
    "us-west3:abc us-west4:abc northamerica-northeast1:abc northamerica-northeast2:abc northamerica-south1:abc "
    "southamerica-east1:abc southamerica-west1:abc europe-west1:bcd europe-west2:abc europe-west3:abc "
    "europe-west4:abc europe-west6:abc europe-west8:abc europe-west9:abc europe-west10:abc europe-west12:abc "
    "europe-north1:abc europe-north2:abc europe-central2:abc europe-southwest1:abc me-west1:abc me-central1:abc "
    "me-central2:abc africa-south1:abc asia-east1:abc asia-east2:abc asia-northeast1:abc asia-northeast2:abc "
    "asia-northeast3:abc asia-south1:abc asia-south2:abc asia-southeast1:abc asia-southeast2:abc "
    "australia-southeast1:abc australia-southeast2:abc",
    "-",
)


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Azure names zones 1-3 in every region that has them; the others are regional only (no zone redundancy).
_AZURE_ZONED = _names(
    "eastus eastus2 centralus southcentralus westus2 westus3 canadacentral brazilsouth mexicocentral chilecentral "
    "northeurope westeurope uksouth francecentral germanywestcentral swedencentral switzerlandnorth norwayeast "
    "polandcentral italynorth spaincentral austriaeast belgiumcentral denmarkeast israelcentral qatarcentral "
    "uaenorth southafricanorth australiaeast centralindia japaneast japanwest koreacentral southeastasia eastasia "
    "newzealandnorth indonesiacentral malaysiawest usgovvirginia chinanorth3"
)
_AZURE_REGIONAL = _names(
    "westus northcentralus westcentralus canadaeast brazilsoutheast ukwest francesouth germanynorth norwaywest "
    "switzerlandwest swedensouth southindia westindia jioindiawest jioindiacentral australiasoutheast "
    "australiacentral australiacentral2 koreasouth japanwest2 uaecentral southafricawest usgovarizona usgovtexas "
    "chinanorth2 chinaeast2"
)
_AZURE = {**{r: ("1", "2", "3") for r in _AZURE_ZONED}, **{r: () for r in _AZURE_REGIONAL}}

REGIONS: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"aws": MappingProxyType(_AWS), "gcp": MappingProxyType(_GCP), "azure": MappingProxyType(_AZURE)}
)


def suggest_region(cloud: str, region: str) -> str:
    """A hint for a region that is not in the table: the zone's region, another cloud's region, or close names."""
    import difflib

    for other, table in REGIONS.items():
        for name, zones in table.items():
            if region in zones and region != name:
                return f"{region!r} is a zone of {other} region {name!r}; give the region"
        if other != cloud and region in table:
            return f"{region!r} is a {other} region, not a {cloud} one"
    close = difflib.get_close_matches(region, list(REGIONS[cloud]), n=3, cutoff=0.75)
    return f"did you mean {' or '.join(close)}" if close else "modelport/regions.py lists the known regions"


def region_zones(
    path: str, cloud: str, region: Any, zones: Sequence[str] | None = None, zones_path: str = "zones"
) -> tuple[str, ...]:
    """The zones of ``region`` in ``cloud``; raises SpecError naming ``path`` for a region the table lacks.

    ``zones`` is the escape hatch for a region newer than the table: the caller names the zones, and they are
    used as given. For a known region, explicit zones must be zones of that region.
    """
    table = REGIONS.get(cloud)
    if table is None:
        raise SpecError(path, f"cloud {cloud!r} has no regions (choose aws, gcp or azure)")
    if region not in table:
        if zones:
            return tuple(zones)
        raise SpecError(
            path,
            f"{region!r} is not a region modelport knows for {cloud} ({suggest_region(cloud, region)}); "
            "for a region newer than modelport's table, name its zones in the target's `zones` list",
        )
    known = table[region]
    if zones:
        unknown = [z for z in zones if z not in known]
        if unknown:
            raise SpecError(
                zones_path,
                f"{unknown[0]!r} is not a zone of {region} (its zones: {', '.join(known) or 'none'})",
            )
        return tuple(zones)
    return known
