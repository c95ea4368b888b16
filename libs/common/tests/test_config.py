from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from crosstalk_common.config import (
    MissingSetting,
    env_bool,
    env_duration,
    env_int,
    env_str,
    load_settings,
    parse_duration,
)


@dataclass(frozen=True)
class ExampleSettings:
    database_url: str
    port: int
    ratio: float
    debug: bool
    data_dir: Path
    peers: tuple[str, ...]
    secret: bytes
    timeout: timedelta = timedelta(seconds=3)
    log_level: str = "INFO"
    languages: tuple[str, ...] = field(default_factory=lambda: ("en",))
    region: str | None = None


FULL = {
    "SVC_DATABASE_URL": "sqlite:///var/svc.db",
    "SVC_PORT": "50052",
    "SVC_RATIO": "0.25",
    "SVC_DEBUG": "yes",
    "SVC_DATA_DIR": "/tmp/svc",
    "SVC_PEERS": "identity, rules,,translation ",
    "SVC_SECRET": "s3cret",
}


def test_load_settings_reads_every_type_and_uses_defaults() -> None:
    settings = load_settings(ExampleSettings, "svc", FULL)
    assert settings == ExampleSettings(
        database_url="sqlite:///var/svc.db",
        port=50052,
        ratio=0.25,
        debug=True,
        data_dir=Path("/tmp/svc"),
        peers=("identity", "rules", "translation"),
        secret=b"s3cret",
    )
    overridden = load_settings(
        ExampleSettings,
        "SVC_",
        FULL | {"SVC_TIMEOUT": "250ms", "SVC_LANGUAGES": "de,fr", "SVC_REGION": "eu"},
    )
    assert overridden.timeout == timedelta(milliseconds=250)
    assert overridden.languages == ("de", "fr")
    assert overridden.region == "eu"


def test_every_missing_and_malformed_variable_is_named_at_once() -> None:
    environ = {"SVC_PORT": "fifty", "SVC_DEBUG": "maybe", "SVC_TIMEOUT": "soon", "SVC_RATIO": ""}
    with pytest.raises(MissingSetting) as caught:
        load_settings(ExampleSettings, "SVC", environ)
    message = str(caught.value)
    for name in (
        "SVC_DATABASE_URL",
        "SVC_PORT",
        "SVC_RATIO",
        "SVC_DEBUG",
        "SVC_DATA_DIR",
        "SVC_PEERS",
        "SVC_SECRET",
        "SVC_TIMEOUT",
    ):
        assert name in message
    assert "'fifty'" in message
    assert len(caught.value.problems) == 8
    assert isinstance(caught.value, ValueError)


def test_unsupported_field_types_are_a_programming_error() -> None:
    @dataclass(frozen=True)
    class Odd:
        values: list[str]

    with pytest.raises(TypeError, match="unsupported"):
        load_settings(Odd, "X", {"X_VALUES": "a"})
    with pytest.raises(TypeError, match="not a dataclass"):
        load_settings(int, "X", {})


def test_single_variable_helpers() -> None:
    env = {"A": "text", "N": "42", "B": "off", "D": "PT1M30S", "EMPTY": "", "BAD": "x"}
    assert env_str("A", environ=env) == "text"
    assert env_str("EMPTY", "fallback", environ=env) == "fallback"
    assert env_int("N", environ=env) == 42
    assert env_int("MISSING", 7, environ=env) == 7
    assert env_bool("B", environ=env) is False
    assert env_duration("D", environ=env) == timedelta(seconds=90)
    with pytest.raises(MissingSetting, match="MISSING is required"):
        env_str("MISSING", environ=env)
    with pytest.raises(MissingSetting, match="BAD: expected an integer"):
        env_int("BAD", environ=env)


def test_helpers_read_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSTALK_TEST_SETTING", "5")
    assert env_int("CROSSTALK_TEST_SETTING") == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30", timedelta(seconds=30)), ("30s", timedelta(seconds=30)),
     ("1.5m", timedelta(seconds=90)), ("2h", timedelta(hours=2)), ("1d", timedelta(days=1)),
     ("PT24H", timedelta(hours=24)), ("P1W", timedelta(weeks=1)), ("0", timedelta(0))],
)  # fmt: skip
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "soon", "-5s", "5 weeks"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_service_settings_name_every_bad_variable_at_once() -> None:
    from crosstalk_common.config import MissingSetting
    from crosstalk_common.runtime import ServiceSettings

    with pytest.raises(MissingSetting) as caught:
        ServiceSettings.from_env(
            "customers",
            environ={"CUSTOMERS_PORT": "eighty", "CUSTOMERS_MIGRATE_ON_START": "perhaps"},
        )
    assert "CUSTOMERS_PORT" in str(caught.value)
    assert "CUSTOMERS_MIGRATE_ON_START" in str(caught.value)
