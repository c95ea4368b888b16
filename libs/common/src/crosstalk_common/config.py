"""Settings from environment variables, checked once at start.

``load_settings`` fills a frozen dataclass from ``<PREFIX>_<FIELD>``
variables and reports every missing or malformed variable in one
``MissingSetting``, so a misconfigured process stops at once with the whole
list. The ``env_*`` helpers read single variables the same way.

An empty variable counts as unset.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_SIMPLE_DURATION = re.compile(r"(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)?")
_ISO_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


class MissingSetting(ValueError):
    """Settings are missing or malformed; ``problems`` lists each one."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


# --- parsing one value --------------------------------------------------------------------


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def parse_float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None


def parse_duration(text: str) -> timedelta:
    """``30s``, ``250ms``, ``5m``, ``2h``, ``1d``, ``45`` (seconds) or ISO-8601 ``PT30S``."""
    stripped = text.strip()
    simple = _SIMPLE_DURATION.fullmatch(stripped.lower())
    if simple:
        unit = simple["unit"] or "s"
        return timedelta(seconds=float(simple["amount"]) * _UNIT_SECONDS[unit])
    iso = _ISO_DURATION.fullmatch(stripped.upper())
    if iso and stripped.upper() not in ("P", "PT") and not stripped.upper().endswith("T"):
        parts = {name: float(amount) for name, amount in iso.groupdict().items() if amount}
        return timedelta(**parts)
    raise ValueError(f"expected a duration such as 30s, 5m, 2h or PT30S, got {text!r}")


def parse_str_tuple(text: str) -> tuple[str, ...]:
    """Comma-separated items, trimmed, empty items dropped."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


# --- single variables ---------------------------------------------------------------------


def _read(
    name: str, default: T | None, parse: Callable[[str], T], environ: Mapping[str, str] | None
) -> T:
    raw = (os.environ if environ is None else environ).get(name, "")
    if not raw:
        if default is None:
            raise MissingSetting(f"{name} is required", (f"{name}: missing",))
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise MissingSetting(f"{name}: {exc}", (f"{name}: {exc}",)) from None


def env_str(
    name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None
) -> str:
    return _read(name, default, str, environ)


def env_int(
    name: str, default: int | None = None, *, environ: Mapping[str, str] | None = None
) -> int:
    return _read(name, default, parse_int, environ)


def env_bool(
    name: str, default: bool | None = None, *, environ: Mapping[str, str] | None = None
) -> bool:
    return _read(name, default, parse_bool, environ)


def env_duration(
    name: str, default: timedelta | None = None, *, environ: Mapping[str, str] | None = None
) -> timedelta:
    return _read(name, default, parse_duration, environ)


# --- whole dataclasses --------------------------------------------------------------------

_PARSERS: dict[Any, Callable[[str], Any]] = {
    str: str,
    int: parse_int,
    float: parse_float,
    bool: parse_bool,
    Path: Path,
    bytes: str.encode,
    timedelta: parse_duration,
}


def _parser_for(annotation: Any) -> tuple[Callable[[str], Any], bool]:
    """The parser of a field's type and whether ``None`` is allowed."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) != 1:
            raise TypeError(f"unsupported settings type {annotation!r}")
        annotation = args[0]
        origin = typing.get_origin(annotation)
    if origin is tuple:
        items = typing.get_args(annotation)
        if len(items) == 2 and items[1] is Ellipsis and items[0] in _PARSERS:
            item = _PARSERS[items[0]]
            return (lambda text: tuple(item(part) for part in parse_str_tuple(text))), optional
        raise TypeError(f"unsupported settings type {annotation!r}; use tuple[str, ...]")
    if annotation in _PARSERS:
        return _PARSERS[annotation], optional
    raise TypeError(f"unsupported settings type {annotation!r}")


def load_settings(cls: type[T], prefix: str, environ: Mapping[str, str] | None = None) -> T:
    """An instance of the dataclass ``cls`` read from ``<PREFIX>_<FIELD_NAME>`` variables.

    Supported field types: ``str``, ``int``, ``float``, ``bool``, ``Path``,
    ``bytes``, ``timedelta``, ``tuple[str, ...]`` (comma-separated) and any of
    them ``| None``. Fields with a default may be unset; ``X | None`` fields
    without one become ``None``. Raises one ``MissingSetting`` naming every
    missing or malformed variable.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    env = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    head = prefix.upper().rstrip("_")
    values: dict[str, Any] = {}
    problems: list[str] = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        parse, optional = _parser_for(hints[field.name])
        variable = f"{head}_{field.name.upper()}"
        raw = env.get(variable, "")
        has_default = (
            field.default is not dataclasses.MISSING
            or field.default_factory is not dataclasses.MISSING
        )
        if not raw:
            if has_default:
                continue
            if optional:
                values[field.name] = None
            else:
                problems.append(f"{variable}: missing")
            continue
        try:
            values[field.name] = parse(raw)
        except ValueError as exc:
            problems.append(f"{variable}: {exc}")
    if problems:
        raise MissingSetting(
            f"{cls.__name__} settings are incomplete: {'; '.join(problems)}", tuple(problems)
        )
    return cls(**values)
