"""The egress policy: tenants' hosts reach public addresses only, unless allowed."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crosstalk_common.config import MissingSetting
from crosstalk_common.egress import (
    PUBLIC_ONLY,
    EgressPolicy,
    EgressRefused,
    HostUnresolved,
    is_public,
)

REFUSED = [
    "127.0.0.1",
    "127.1.2.3",
    "10.0.0.5",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.1",  # multicast
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]
PUBLIC = ["8.8.8.8", "93.184.216.34", "2001:4860:4860::8888", "64:ff9b::808:808"]


@pytest.mark.parametrize("text", REFUSED)
def test_private_and_special_addresses_are_not_public(text: str) -> None:
    assert not is_public(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", PUBLIC)
def test_public_unicast_addresses_are_public(text: str) -> None:
    assert is_public(ipaddress.ip_address(text))


private_v4 = st.sampled_from(
    [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16")]
).flatmap(lambda net: st.integers(0, net.num_addresses - 1).map(lambda i: net.network_address + i))


@given(private_v4)
def test_an_ipv4_address_wrapped_in_ipv6_is_judged_as_itself(
    address: ipaddress.IPv4Address,
) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address))
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80))
    assert not any(is_public(a) for a in (address, mapped, nat64, sixtofour))


def test_exceptions_are_networks_with_an_optional_port() -> None:
    policy = EgressPolicy.parse(" 127.0.0.1:2525, 10.0.0.0/8 ,[::1]:25,fd00::/8 ")
    assert policy.allows(ipaddress.ip_address("127.0.0.1"), 2525)
    assert not policy.allows(ipaddress.ip_address("127.0.0.1"), 9901)
    assert policy.allows(ipaddress.ip_address("10.9.8.7"), 1)
    assert policy.allows(ipaddress.ip_address("::1"), 25)
    assert not policy.allows(ipaddress.ip_address("::1"), 26)
    assert policy.allows(ipaddress.ip_address("fd12::1"), 443)
    assert not policy.allows(ipaddress.ip_address("192.168.0.1"), 443)
    assert EgressPolicy.parse("") == PUBLIC_ONLY


@pytest.mark.parametrize("text", ["nonsense", "10.0.0.0/8:0", "127.0.0.1:99999", "[::1]:x"])
def test_a_malformed_allowance_is_a_setting_error(text: str) -> None:
    with pytest.raises(MissingSetting, match="CROSSTALK_EGRESS_ALLOW"):
        EgressPolicy.from_env({"CROSSTALK_EGRESS_ALLOW": text})


def test_hosts_written_as_addresses_or_localhost_are_judged_as_written() -> None:
    assert PUBLIC_ONLY.problem("10.0.0.5", 443)
    assert PUBLIC_ONLY.problem("[::1]", 443)
    assert PUBLIC_ONLY.problem("LOCALHOST.", 25)
    assert PUBLIC_ONLY.problem("mail.localhost", 25)
    assert PUBLIC_ONLY.problem("8.8.8.8", 443) is None
    # Other names are judged by what they resolve to, when connecting.
    assert PUBLIC_ONLY.problem("mail.example.com", 25) is None
    assert EgressPolicy.parse("127.0.0.0/8").problem("localhost", 25) is None


async def test_a_name_that_resolves_to_a_refused_address_is_refused() -> None:
    with pytest.raises(EgressRefused, match="not a public address"):
        await PUBLIC_ONLY.resolve("localhost", 80)
    with pytest.raises(EgressRefused):
        await PUBLIC_ONLY.resolve("127.0.0.1", 80)
    with pytest.raises(HostUnresolved, match="does not resolve") as unresolved:
        await PUBLIC_ONLY.resolve("no-such-host.invalid", 80)
    assert unresolved.value.retryable  # DNS may answer later; a refused address never
    with pytest.raises(EgressRefused) as refused:
        await PUBLIC_ONLY.resolve("10.0.0.1", 80)
    assert not refused.value.retryable
    loopback = EgressPolicy.parse("127.0.0.0/8,::1")
    assert set(await loopback.resolve("localhost", 80)) <= {"127.0.0.1", "::1"}
    assert await loopback.resolve("[::1]", 80) == ["::1"]


async def test_a_pinned_url_goes_to_the_checked_address_for_the_original_host() -> None:
    loopback = EgressPolicy.parse("127.0.0.0/8,::1")
    pinned = await loopback.pin_url("http://user:pw@localhost:8080/hook?x=1#f")
    assert pinned.url in (
        "http://user:pw@127.0.0.1:8080/hook?x=1#f",
        "http://user:pw@[::1]:8080/hook?x=1#f",
    )
    assert pinned.host_header == "localhost:8080"
    assert pinned.server_name == "localhost"
    plain = await loopback.pin_url("https://127.0.0.1/x")
    assert (plain.url, plain.host_header, plain.server_name) == (
        "https://127.0.0.1/x",
        "127.0.0.1",
        "127.0.0.1",
    )
    with pytest.raises(EgressRefused):
        await PUBLIC_ONLY.pin_url("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(EgressRefused):
        await loopback.pin_url("http://localhost:99999/")
