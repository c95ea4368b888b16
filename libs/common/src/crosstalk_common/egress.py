"""Where the platform may connect on a tenant's say-so: public addresses only.

A tenant chooses some of the hosts the platform connects to: a channel's
webhook URL and SMTP server, a rule's webhook. Left unchecked, any tenant
admin (and anyone can sign up as one) could point them at the platform's own
network and have a service POST or speak SMTP there: the gateway's admin
port (``/quitquitquit``), NATS monitoring, a cloud's metadata address, any
internal host or port, with the failure reason telling open ports from
closed ones (server-side request forgery, ADR 0027).

``EgressPolicy`` answers whether an address may be reached: a globally
routable unicast address may; loopback, private, link-local, shared,
reserved, multicast and unspecified ones may not, nor IPv6 forms that carry
such an IPv4 address (mapped, NAT64, 6to4) or Teredo tunnels. Exceptions are
an operator's setting (``CROSSTALK_EGRESS_ALLOW``): networks, each with an
optional port, for a dev stack's mail sink or an office relay.

``resolve`` looks a host name up and refuses it when ANY of its addresses is
refused (a name that does not resolve is ``HostUnresolved``, worth trying
later). The caller then connects to one of the addresses it returned, not to
the name again, so a name that answers differently the second time (DNS
rebinding) reaches nothing it was not allowed to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from crosstalk_common.config import MissingSetting

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ENV_VAR = "CROSSTALK_EGRESS_ALLOW"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCALHOST_NAMES = ("localhost", "localhost.localdomain")


class EgressRefused(Exception):
    """The destination is not one the platform may connect to."""

    # Whether trying later may help: a name that did not resolve (DNS down, a
    # record not yet published) may; an address that is refused never will.
    retryable = False


class HostUnresolved(EgressRefused):
    """The host name did not resolve (now): nothing to check, nothing to connect to."""

    retryable = True


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def is_public(address: IPAddress) -> bool:
    """A globally routable unicast address, also after unwrapping an IPv4 in IPv6."""
    if isinstance(address, ipaddress.IPv6Address) and address.teredo is not None:
        return False
    inner = embedded_ipv4(address)
    if inner is not None:
        return is_public(inner)
    return address.is_global and not address.is_multicast


def url_port(url: SplitResult) -> int:
    """The port an http(s) URL connects to; ValueError when its own is out of range."""
    return url.port or (443 if url.scheme == "https" else 80)


def is_local_name(host: str) -> bool:
    """``localhost`` and the names under it, which resolve to loopback by convention."""
    name = host.lower().rstrip(".")
    return name in _LOCALHOST_NAMES or name.endswith(".localhost")


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one (IPv6 with or without brackets)."""
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class Allowance:
    network: IPNetwork
    port: int | None

    def covers(self, address: IPAddress, port: int) -> bool:
        return address in self.network and (self.port is None or self.port == port)


@dataclass(frozen=True)
class EgressPolicy:
    """Public addresses, plus the operator's exceptions."""

    exceptions: tuple[Allowance, ...] = ()

    @classmethod
    def parse(cls, text: str) -> EgressPolicy:
        """``"127.0.0.1:2525, 10.0.0.0/8, [::1]:25"``: networks (a bare address is a
        network of one), each optionally with ``:port``. Raises ValueError."""
        found = []
        for raw in text.split(","):
            item = raw.strip()
            if not item:
                continue
            found.append(_allowance(item))
        return cls(tuple(found))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EgressPolicy:
        """``CROSSTALK_EGRESS_ALLOW`` (empty: public addresses only)."""
        try:
            return cls.parse(env.get(ENV_VAR, ""))
        except ValueError as exc:
            raise MissingSetting(f"{ENV_VAR}: {exc}") from None

    def allows(self, address: IPAddress, port: int) -> bool:
        return is_public(address) or any(e.covers(address, port) for e in self.exceptions)

    def problem(self, host: str, port: int) -> str | None:
        """Why ``host`` may not be reached on ``port`` as written (a literal address
        or a local name), or None; other names are checked when resolved."""
        address = literal_address(host)
        if address is None and is_local_name(host):
            address = ipaddress.IPv4Address("127.0.0.1")
        if address is None or self.allows(address, port):
            return None
        return "must be a public address: private, loopback and link-local hosts are refused"

    def url_problem(self, url: SplitResult) -> str | None:
        """``problem`` for an http(s) URL's host and port (its own, or its scheme's)."""
        try:
            port = url_port(url)
        except ValueError:
            return "must have a port from 1 to 65535"
        return self.problem(url.hostname or "", port)

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses ``host`` resolves to (literal addresses as they are), each
        allowed; EgressRefused when it resolves to none, or to one refused."""
        literal = literal_address(host)
        if literal is not None:
            addresses: Sequence[str] = [str(literal)]
        else:
            try:
                found = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except (OSError, UnicodeError) as exc:
                raise HostUnresolved(f"{host} does not resolve ({exc})") from None
            addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        if not addresses:
            raise HostUnresolved(f"{host} does not resolve")
        for text in addresses:
            if not self.allows(ipaddress.ip_address(text.split("%")[0]), port):
                raise EgressRefused(f"{host} resolves to {text}, not a public address: refused")
        return list(addresses)

    async def pin_url(self, url: str) -> PinnedUrl:
        """``url`` (http or https) with its host replaced by an allowed address it
        resolves to; EgressRefused otherwise."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            port = url_port(parts)
        except ValueError:
            raise EgressRefused(f"{url!r} has no valid port") from None
        if not host:
            raise EgressRefused(f"{url!r} names no host")
        address = (await self.resolve(host, port))[0]
        userinfo, _, host_and_port = parts.netloc.rpartition("@")
        shown = f"[{address}]" if ":" in address else address
        netloc = f"{userinfo}@" if userinfo else ""
        netloc += f"{shown}:{parts.port}" if parts.port else shown
        return PinnedUrl(
            url=urlunsplit(parts._replace(netloc=netloc)),
            host_header=host_and_port,
            server_name=host,
        )


PUBLIC_ONLY = EgressPolicy()


@dataclass(frozen=True)
class PinnedUrl:
    """A URL to connect to by a checked address, and what it was for."""

    url: str  # the checked address in place of the host
    host_header: str  # the original host[:port], for the Host header
    server_name: str  # the original host name: TLS's SNI and certificate check


def _allowance(item: str) -> Allowance:
    network_text, port = item, None
    if item.startswith("["):  # [v6 network]:port
        network_text, _, rest = item[1:].partition("]")
        port = _port(rest.removeprefix(":")) if rest else None
    elif item.count(":") == 1:  # v4 network:port
        network_text, _, port_text = item.partition(":")
        port = _port(port_text)
    try:
        network = ipaddress.ip_network(network_text, strict=False)
    except ValueError:
        raise ValueError(f"{item!r} is not an address or network") from None
    return Allowance(network, port)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{text!r} is not a port")
    return int(text)
