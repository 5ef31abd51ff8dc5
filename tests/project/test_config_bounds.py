"""Settings that cannot work are refused when the configuration is made, naming them.

Every configuration dataclass declares its bounds beside its settings and checks them
with one validator (``sipsans.config.check_settings``): the error names the class, the
setting, what it must be and the value given.
"""

from __future__ import annotations

from typing import Any

import pytest

from sipsans.auth.limits import FailureLimits
from sipsans.config import EndpointConfig, ParserLimits
from sipsans.errors import LocalProtocolError
from sipsans.ua.config import UAConfig

REFUSED: list[tuple[type[Any], dict[str, Any], str]] = [
    (ParserLimits, {"max_headers": 0}, r"ParserLimits\.max_headers must be > 0, not 0"),
    (EndpointConfig, {"t1": 0.0}, r"EndpointConfig\.t1 must be > 0"),
    # RFC 3261 §17.1.2.2: T2 caps intervals that start at T1.
    (EndpointConfig, {"t1": 5.0, "t2": 4.0}, r"t2 must be >= t1 \(RFC 3261 §17.1.2.2\)"),
    (EndpointConfig, {"trying_delay": -0.1}, r"trying_delay must be >= 0"),
    # RFC 3261 §18.1.1: the 200-byte margin below the path MTU.
    (EndpointConfig, {"mtu": 200}, r"mtu must be > 200 \(RFC 3261 §18.1.1\), not 200"),
    (EndpointConfig, {"advertised_port": 65536}, r"advertised_port must be < 65536"),
    (EndpointConfig, {"advertised_port": 0}, r"advertised_port must be > 0"),
    (UAConfig, {"rel100": "sometimes"}, r"UAConfig\.rel100 must be one of"),
    (UAConfig, {"session_refresher": "both"}, r"session_refresher must be one of"),
    # RFC 4028 §4: no session interval below 90 seconds.
    (UAConfig, {"min_se": 60}, r"min_se must be >= 90 \(RFC 4028 §4\), not 60"),
    (UAConfig, {"session_expires": 100, "min_se": 120}, r"session_expires must be >= min_se"),
    (UAConfig, {"failover_backoff": 700.0}, r"failover_backoff must be <= failover_max_backoff"),
    (UAConfig, {"failover_backoff": -1.0}, r"failover_backoff must be >= 0"),
    (UAConfig, {"keepalive_interval": 0.0}, r"keepalive_interval must be > 0"),
]


@pytest.mark.parametrize(("cls", "settings", "message"), REFUSED)
def test_a_setting_out_of_its_bound_is_refused_by_name(
    cls: type[Any], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        cls(**settings)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"source_failures": -1}, r"FailureLimits\.source_failures must be >= 0"),
        ({"window": 0.0}, r"window must be > 0"),
        ({"backoff": 7200.0}, r"backoff must be <= max_backoff"),
        ({"status": 404}, r"status must be one of \(403, 503\), not 404"),
        ({"max_tracked": 0}, r"max_tracked must be >= 1"),
    ],
)
def test_failure_limits_are_refused_as_a_local_protocol_error(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        FailureLimits(**settings)


def test_none_switches_an_optional_setting_off_and_the_defaults_pass() -> None:
    assert EndpointConfig(trying_delay=None).trying_delay is None
    assert UAConfig(keepalive_interval=None, session_refresher=None).keepalive_interval is None
    assert FailureLimits(source_failures=0, user_failures=0).user_failures == 0
    ParserLimits()
    UAConfig(session_expires=90, min_se=90, failover_backoff=600.0)
