"""sipsans.locate.Failover (RFC 3263 §4.3) and DnsCache, in virtual time."""

from __future__ import annotations

import pytest
from locatehelpers import addr, naptr, srv

from sipsans import LocalProtocolError, Target
from sipsans.locate import DnsCache, Failover, Query, TargetsExhaustedError

A = Target("UDP", "192.0.2.1", 5060)
B = Target("UDP", "192.0.2.2", 5060)
C = Target("TCP", "2001:db8::3", 5060)


def test_targets_are_tried_in_order_once_per_round() -> None:
    failover = Failover([A, B, C])
    assert failover.next_target(now=0) == A
    failover.failed(A, "timeout", now=32)
    assert failover.next_target(now=32) == B
    failover.failed(B, "503 Service Unavailable", now=33)
    assert failover.next_target(now=33) == C
    failover.failed(C, "connection refused", now=33)
    with pytest.raises(TargetsExhaustedError) as info:
        failover.next_target(now=33)
    assert info.value.failures == (
        (A, "timeout"),
        (B, "503 Service Unavailable"),
        (C, "connection refused"),
    )
    message = str(info.value)
    assert "all 3 targets failed" in message
    assert "TCP [2001:db8::3]:5060: connection refused" in message
    # It stays exhausted until a new round begins: never a loop over the same targets.
    with pytest.raises(TargetsExhaustedError):
        failover.next_target(now=34)


def test_a_failed_target_is_tried_last_until_its_backoff_ends() -> None:
    failover = Failover([A, B, C], backoff=30)
    assert failover.next_target(now=0) == A
    failover.failed(A, "timeout", now=32)
    assert failover.backoff_until(A) == 62
    assert failover.next_target(now=32) == B
    failover.succeeded(B)
    # The next request, 10 s later: A still backs off, so B then C then A.
    failover.restart()
    assert [failover.next_target(now=42) for _ in range(3)] == [B, C, A]
    # After the back-off, A is first again.
    failover.restart()
    assert failover.next_target(now=62) == A


def test_backed_off_targets_are_still_tried_when_nothing_else_is_left() -> None:
    failover = Failover([A, B])
    failover.next_target(now=0)
    failover.failed(A, "timeout", now=0)
    failover.next_target(now=0)
    failover.failed(B, "timeout", now=0)
    failover.restart()
    assert [failover.next_target(now=1), failover.next_target(now=1)] == [A, B]


def test_succeeded_clears_the_backoff_and_ends_the_round() -> None:
    failover = Failover([A, B])
    failover.next_target(now=0)
    failover.failed(A, "timeout", now=0)
    failover.restart()
    assert failover.next_target(now=1) == B
    assert failover.next_target(now=1) == A  # B did not answer yet; A is the last resort
    failover.succeeded(A)
    assert failover.backoff_until(A) is None
    assert failover.next_target(now=2) == A


def test_retry_after_sets_the_backoff_up_to_the_cap() -> None:
    failover = Failover([A, B], backoff=30, max_backoff=120)
    failover.next_target(now=0)
    failover.failed(A, "503", now=10, retry_after=90)
    assert failover.backoff_until(A) == 100
    failover.failed(B, "503", now=10, retry_after=86400)
    assert failover.backoff_until(B) == 130
    failover.failed(B, "503", now=10, retry_after=-5)
    assert failover.backoff_until(B) == 10


def test_update_keeps_backoffs_of_targets_still_planned() -> None:
    failover = Failover([A, B])
    failover.next_target(now=0)
    failover.failed(A, "timeout", now=0)
    failover.update([C, A, A])
    assert failover.targets == (C, A)
    assert failover.backoff_until(A) == 30
    assert failover.next_target(now=1) == C
    with pytest.raises(LocalProtocolError, match="not one of"):
        failover.failed(B, "timeout", now=1)


def test_failover_bounds_and_misuse() -> None:
    failover = Failover([Target("UDP", f"192.0.2.{i}", 5060) for i in range(100)], max_targets=4)
    assert len(failover.targets) == 4
    with pytest.raises(LocalProtocolError, match="at least one"):
        Failover([])
    with pytest.raises(LocalProtocolError, match="backoff"):
        Failover([A], backoff=60, max_backoff=30)
    with pytest.raises(LocalProtocolError, match="max_targets"):
        Failover([A], max_targets=0)
    with pytest.raises(LocalProtocolError, match="Target"):
        Failover([("UDP", "192.0.2.1", 5060)])  # type: ignore[list-item]
    failover.next_target(now=10)
    with pytest.raises(LocalProtocolError, match="backwards"):
        failover.next_target(now=9)
    with pytest.raises(LocalProtocolError, match="not one of"):
        failover.succeeded(C)


# -- DnsCache -------------------------------------------------------------------------
def test_cache_returns_records_with_their_remaining_ttl_until_they_expire() -> None:
    cache = DnsCache()
    cache.put("A", "H.example.com.", [addr("h.example.com", "192.0.2.1", ttl=60)], now=100)
    assert cache.get("A", "h.example.com", now=100) == (addr("h.example.com", "192.0.2.1", ttl=60),)
    later = cache.get("A", "h.example.com", now=130)
    assert later is not None
    assert later[0].ttl == 30
    assert cache.get("AAAA", "h.example.com", now=130) is None
    assert cache.get("A", "h.example.com", now=160) is None
    assert len(cache) == 0


def test_cache_set_expires_with_its_first_record_and_ttls_are_capped() -> None:
    cache = DnsCache(max_ttl=3600)
    cache.put(
        "SRV",
        "_sip._udp.example.com",
        [
            srv("_sip._udp.example.com", 0, 0, 5060, "a.example.com", ttl=10),
            srv("_sip._udp.example.com", 0, 0, 5060, "b.example.com", ttl=10**9),
        ],
        now=0,
    )
    assert cache.get("SRV", "_sip._udp.example.com", now=9) is not None
    assert cache.get("SRV", "_sip._udp.example.com", now=10) is None
    cache.put("A", "x.example.com", [addr("x.example.com", "192.0.2.1", ttl=10**9)], now=10)
    assert cache.get("A", "x.example.com", now=3609) is not None
    assert cache.get("A", "x.example.com", now=3610) is None


def test_cache_keeps_empty_answers_for_the_negative_ttl() -> None:
    cache = DnsCache(negative_ttl=30)
    cache.put("NAPTR", "example.com", [], now=0)
    assert cache.get("NAPTR", "example.com", now=29) == ()
    assert cache.get("NAPTR", "example.com", now=30) is None
    cache.put("NAPTR", "example.com", [], now=30, negative_ttl=300)
    assert cache.get("NAPTR", "example.com", now=329) == ()
    cache.put("NAPTR", "example.com", [], now=330, negative_ttl=0)
    assert cache.get("NAPTR", "example.com", now=330) is None
    cache.put("A", "z.example.com", [addr("z.example.com", "192.0.2.1", ttl=0)], now=331)
    assert cache.get("A", "z.example.com", now=331) is None


def test_cache_put_answer_files_additional_records_under_their_own_names() -> None:
    cache = DnsCache()
    query = Query("NAPTR", "example.com")
    cache.put_answer(
        query,
        [
            naptr("example.com", 1, 1, "SIP+D2U", "_sip._udp.example.com"),
            srv("_sip._udp.example.com", 0, 0, 5060, "h.example.com"),
            addr("h.example.com", "192.0.2.1"),
            addr("h.example.com", "2001:db8::1"),
        ],
        now=0,
    )
    assert len(cache) == 4
    naptrs = cache.get("NAPTR", "example.com", now=1)
    assert naptrs is not None
    assert len(naptrs) == 1
    assert cache.get("AAAA", "h.example.com", now=1) == (
        addr("h.example.com", "2001:db8::1", ttl=299),
    )


def test_cache_is_bounded_and_evicts_expired_then_oldest() -> None:
    cache = DnsCache(max_entries=3)
    cache.put("A", "short.example.com", [addr("short.example.com", "192.0.2.1", ttl=5)], now=0)
    cache.put("A", "a.example.com", [addr("a.example.com", "192.0.2.2")], now=0)
    cache.put("A", "b.example.com", [addr("b.example.com", "192.0.2.3")], now=0)
    cache.put("A", "c.example.com", [addr("c.example.com", "192.0.2.4")], now=10)
    # The expired entry made room.
    assert len(cache) == 3
    assert cache.get("A", "a.example.com", now=10) is not None
    cache.put("A", "d.example.com", [addr("d.example.com", "192.0.2.5")], now=11)
    # Nothing expired: the oldest stored made room.
    assert len(cache) == 3
    assert cache.get("A", "a.example.com", now=11) is None
    assert cache.get("A", "d.example.com", now=11) is not None
    cache.clear()
    assert len(cache) == 0


def test_cache_misuse() -> None:
    with pytest.raises(LocalProtocolError):
        DnsCache(max_entries=0)
    with pytest.raises(LocalProtocolError):
        DnsCache(negative_ttl=-1)
    cache = DnsCache()
    with pytest.raises(LocalProtocolError, match="kind"):
        cache.put("MX", "example.com", [], now=0)  # type: ignore[arg-type]
    cache.get("A", "example.com", now=5)
    with pytest.raises(LocalProtocolError, match="backwards"):
        cache.get("A", "example.com", now=4)
