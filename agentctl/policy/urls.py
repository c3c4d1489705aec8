"""http_get's address check: a URL's host must resolve to public addresses unless every
policy names it in a `hosts:` rule, and what the policies deny is refused at every redirect.
Moved out of `agentctl.policy.rules`, which decides; this asks the resolver."""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path

from agentctl.policy.addresses import address_problem
from agentctl.policy.match import names_host
from agentctl.policy.rules import PolicySet
from agentctl.policy.votes import Verdict

# socket.getaddrinfo's shape: (family, type, proto, canonname, sockaddr) per address.
AddressInfo = tuple[object, object, object, object, tuple[object, ...]]
Resolver = Callable[..., Sequence[AddressInfo]]


def check_url_allowed(
    url: str, policy_set: PolicySet, *, resolve: Resolver = socket.getaddrinfo
) -> str | None:
    """None if `url`'s host resolves only to public addresses, or every policy names the host
    (or the address) in a `hosts:` rule; else why it must not be fetched."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError as e:
        return f"refused {url}: {e}"
    if not host:
        return f"refused {url}: the URL has no host"
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        return f"refused {url}: cannot resolve {host} ({e})"
    addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
    problems = []
    for address in addresses:
        try:
            problem = address_problem(ipaddress.ip_address(address))
        except ValueError:
            problem = f"{address} is not an IP address"
        if problem:
            problems.append(problem)
    if not problems or all(names_host(p, host, addresses) for p in policy_set.policies):
        return None
    return (
        f"refused {url}: {host} resolves to {problems[0]}; to allow it, name "
        f"{host} in a rule's hosts: in every policy"
    )


def make_url_checker(
    policy_set: PolicySet, workspace: Path, *, resolve: Resolver = socket.getaddrinfo
) -> Callable[[str], str | None]:
    """The `url_checker` http_get takes from its ToolContext: it refuses non-public addresses
    (see check_url_allowed) and URLs the policies deny, at the first hop and every redirect."""

    def check(url: str) -> str | None:
        decision = policy_set.decide("http_get", {"url": url}, workspace=workspace)
        if decision.decision == Verdict.DENY:
            return f"refused {url}: {decision.reason}"
        return check_url_allowed(url, policy_set, resolve=resolve)

    return check


__all__ = ["check_url_allowed", "make_url_checker"]
