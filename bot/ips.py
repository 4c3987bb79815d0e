"""The one way the bot compares IP addresses.

Upstox, this host's public-IP lookup and a person can spell the same address
differently: `::ffff:13.232.10.11` is `13.232.10.11`, `2001:DB8:0::1` is `2001:db8::1`.
Validation, the apply step's re-check, the drift watcher and `show` all compare through
`normalise_ip`, so they always agree on whether two IPs are the same.
"""

from __future__ import annotations

import ipaddress


def normalise_ip(value: str | None) -> str | None:
    """The canonical spelling of an address: IPv4-mapped IPv6 unwrapped to IPv4, IPv6
    compressed and lower-case. None for nothing; text that is no address is returned
    stripped (lower-case), so it only ever equals itself."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text.lower()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def same_ip(a: str | None, b: str | None) -> bool:
    """Whether two strings name the same address; nothing is never the same as anything."""
    left, right = normalise_ip(a), normalise_ip(b)
    return left is not None and left == right
