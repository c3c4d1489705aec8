"""Places no action may reach whatever a rule says: private network addresses (http_get's
refusal) and agentctl's own database files. Used by `agentctl.policy.touches` and `rules`."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path


def literal_address_problem(host: str) -> str | None:
    """Why a host that is an IP literal (or localhost) must not be fetched, if it must not."""
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is this machine (loopback)"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return address_problem(address)


def address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is off limits (loopback, private, link-local/metadata...), else None."""
    mapped = getattr(address, "ipv4_mapped", None) or address
    if mapped.is_loopback:
        return f"{address} is this machine (loopback)"
    if mapped.is_link_local:
        return f"{address} is link-local (cloud metadata services live there)"
    if not mapped.is_global or mapped.is_multicast:
        return f"{address} is a private, reserved or shared address"
    return None


def db_file_set(db_path: Path | None) -> set[str]:
    """The database and its -wal/-shm/-journal companions, as resolved and as given."""
    if db_path is None:
        return set()
    out = set()
    for base in {os.path.abspath(db_path), os.path.realpath(db_path)}:
        out |= {base + suffix for suffix in ("", "-wal", "-shm", "-journal")}
    return out


__all__ = ["address_problem", "db_file_set", "literal_address_problem"]
