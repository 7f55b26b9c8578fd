"""Network ranges judged as sets with ipaddress: how much of the public internet a set of CIDRs admits (IPv4, IPv6).

Guardrails never compare CIDR strings: ``["0.0.0.0/1", "128.0.0.0/1"]`` is the internet as surely as ``0.0.0.0/0``,
and ``::ffff:0:0/96`` is the whole IPv4 internet written as IPv6. The spec, the components and the policy pack all
ask these functions.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

__all__ = [
    "INTERNET_SHARE_LIMIT",
    "METADATA_ADDRESSES",
    "Network",
    "covers_address",
    "internet_share",
    "open_to_internet",
    "subtract",
    "to_networks",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# A set that admits more than this share of a family's public address space (IPv4: about a /8, 14 million
# addresses; IPv6: about a /11) is treated as open to the internet. No organisation's own ranges come near it.
INTERNET_SHARE_LIMIT = 1 / 256

# Cloud instance metadata endpoints: AWS (IPv4 and IPv6), GCP and Azure share 169.254.169.254.
METADATA_ADDRESSES = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))

# Address space that is not routed on the public internet (IANA special-purpose registries).
_NOT_PUBLIC_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
# IPv6 global unicast is 2000::/3, minus documentation space.
_PUBLIC_V6 = ("2000::/3",)
_NOT_PUBLIC_V6 = ("2001:db8::/32",)
_V4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


def subtract(blocks: Iterable[Network], holes: Iterable[Network]) -> list[Network]:
    """The addresses of ``blocks`` outside ``holes``, as networks (a NetworkPolicy ipBlock's cidr minus except)."""
    remaining = list(blocks)
    for hole in holes:
        next_round: list[Network] = []
        for block in remaining:
            if block.version != hole.version or not block.overlaps(hole):
                next_round.append(block)
            elif block.subnet_of(hole):  # type: ignore[arg-type]
                continue
            else:
                next_round.extend(block.address_exclude(hole))  # type: ignore[arg-type]
        remaining = next_round
    return remaining


@functools.lru_cache(maxsize=2)
def _public_blocks(version: int) -> tuple[Network, ...]:
    if version == 4:
        return tuple(subtract([ipaddress.ip_network("0.0.0.0/0")], [ipaddress.ip_network(n) for n in _NOT_PUBLIC_V4]))
    return tuple(
        subtract([ipaddress.ip_network(n) for n in _PUBLIC_V6], [ipaddress.ip_network(n) for n in _NOT_PUBLIC_V6])
    )


def to_networks(values: Iterable[object]) -> list[Network]:
    """CIDR strings (or networks) as networks, host bits allowed; IPv4-mapped IPv6 ranges become IPv4 ranges.

    A value that is not a CIDR raises ValueError: a guardrail never guesses.
    """
    found: list[Network] = []
    for value in values:
        network = value if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)) else None
        if network is None:
            network = ipaddress.ip_network(str(value).strip(), strict=False)
        if network.version == 6 and network.overlaps(_V4_MAPPED):
            if network.subnet_of(_V4_MAPPED):  # type: ignore[arg-type]
                mapped = ipaddress.ip_network(
                    (int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96), strict=False
                )
                found.append(mapped)
                continue
            found.append(ipaddress.ip_network("0.0.0.0/0"))  # a supernet of ::ffff:0:0/96 holds all of IPv4
        found.append(network)
    return found


def internet_share(values: Iterable[object]) -> dict[int, float]:
    """For IPv4 (4) and IPv6 (6): the share of the public address space the set admits, from 0.0 to 1.0."""
    networks = to_networks(values)
    shares = {}
    for version in (4, 6):
        union = list(ipaddress.collapse_addresses([n for n in networks if n.version == version]))  # type: ignore[misc]
        public = _public_blocks(version)
        total = sum(block.num_addresses for block in public)
        covered = 0
        for network in union:
            for block in public:
                if network.subnet_of(block):  # type: ignore[arg-type]
                    covered += network.num_addresses
                elif block.subnet_of(network):  # type: ignore[arg-type]
                    covered += block.num_addresses
        shares[version] = covered / total
    return shares


def open_to_internet(values: Iterable[object]) -> str | None:
    """Why the set counts as open to the internet (it admits more than INTERNET_SHARE_LIMIT of a family's
    public addresses), or None when it does not."""
    shares = internet_share(values)
    reasons = [
        f"{share:.2%} of the public IPv{version} internet"
        for version, share in shares.items()
        if share > INTERNET_SHARE_LIMIT
    ]
    return " and ".join(reasons) if reasons else None


def covers_address(
    values: Iterable[object], addresses: Iterable[ipaddress.IPv4Address | ipaddress.IPv6Address]
) -> list[str]:
    """The addresses of ``addresses`` that some network of the set contains."""
    networks = to_networks(values)
    return [str(a) for a in addresses if any(a.version == n.version and a in n for n in networks)]
