"""Scalars the spec checks beyond their type: durations, images, TLS policies, strategy names...

Each is a subclass of `int` or `str` whose `parse` returns the value as an instance of it (msgspec
checks that) or raises ValueError saying what was expected; msgspec calls it through `dec_hook`
for every field of that type and reports the error at the field's path. The values behave as the
int or str they are (json.dumps, boto3 and troposphere take them as such); `enc_hook` turns them
back into plain ones for msgspec's own encoder. `schema` is its JSON Schema for editors. Pure, no I/O.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from deployer.spec.units import clip, parse_duration


class Checked:
    @classmethod
    def parse(cls, value: Any):
        raise NotImplementedError

    @classmethod
    def schema(cls) -> dict:
        raise NotImplementedError


def dec_hook(kind: type, value: Any) -> Any:
    """msgspec's hook for types it does not know: ours parse themselves."""
    if isinstance(kind, type) and issubclass(kind, Checked):
        return kind.parse(value)
    raise NotImplementedError(f"no reader for {kind!r}")


def enc_hook(value: Any) -> Any:
    """msgspec encodes only exact ints and strs: ours go out as the plain values they hold."""
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def schema_hook(kind: type) -> dict:
    if isinstance(kind, type) and issubclass(kind, Checked):
        return kind.schema()
    raise NotImplementedError(f"no schema for {kind!r}")


def _bound_text(lo: int | None, hi: int | None) -> str:
    if hi is None:
        return f"greater than or equal to {lo}"
    if lo is None:
        return f"less than or equal to {hi}"
    return f"{lo}..{hi}"


class Seconds(int, Checked):
    """Whole seconds written as 90, "90s", "2m" or "1h30m" (units.parse_duration), within bounds."""

    lo: int | None = 0
    hi: int | None = None

    @classmethod
    @lru_cache(maxsize=None)
    def between(cls, lo: int | None = 0, hi: int | None = None) -> type["Seconds"]:
        return type(f"Seconds_{lo}_{hi}", (cls,), {"lo": lo, "hi": hi})

    @classmethod
    def parse(cls, value: Any) -> "Seconds":
        seconds = parse_duration(value)
        if cls.lo is not None and seconds < cls.lo:
            raise ValueError(f"expected greater than or equal to {cls.lo} (got {clip(value)})")
        if cls.hi is not None and seconds > cls.hi:
            raise ValueError(f"expected less than or equal to {cls.hi} (got {clip(value)})")
        return cls(seconds)

    @classmethod
    def schema(cls) -> dict:
        number: dict = {"type": "integer", "minimum": cls.lo or 0}
        if cls.hi is not None:
            number["maximum"] = cls.hi
        return {"anyOf": [number, {"type": "string", "pattern": r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"}],
                "description": f"Seconds ({_bound_text(cls.lo, cls.hi)}): 90, \"90s\", \"2m\" or \"1h30m\".",
                "examples": ["30s", "2m", "1h30m", 90]}


# A container image reference as Docker/ECS take it: [registry[:port]/]name[:tag][@digest].
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PORT = r"(?::[0-9]{1,5})"
# A registry has a dot or a port, or is localhost; else the first part belongs to the name.
_DOMAIN = rf"(?:localhost{_PORT}?|{_LABEL}(?:\.{_LABEL})+{_PORT}?|{_LABEL}{_PORT})"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_PATTERN = (
    rf"^(?:{_DOMAIN}/)?{_PATH}(?:/{_PATH})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
IMAGE_MAX_LENGTH = 255  # ECS containerDefinitions.image
_IMAGE = re.compile(IMAGE_PATTERN)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected {what} (got {clip(value)})")
    return value


class Image(str, Checked):
    @classmethod
    def parse(cls, value: Any) -> "Checked":
        what = "an image [registry[:port]/]name[:tag][@digest]"
        value = _text(value, what)
        if len(value) > IMAGE_MAX_LENGTH or not _IMAGE.fullmatch(value):
            why = f"{len(value)} characters" if len(value) > IMAGE_MAX_LENGTH else clip(value)
            raise ValueError(
                f"expected {what}: lowercase name, at most {IMAGE_MAX_LENGTH} characters, "
                f"no spaces or control characters (got {why})"
            )
        return cls(value)

    @classmethod
    def schema(cls) -> dict:
        return {"type": "string", "pattern": IMAGE_PATTERN, "maxLength": IMAGE_MAX_LENGTH,
                "examples": ["registry.example.com:5000/team/web:1.2.3"]}


# ALB TLS policies whose oldest protocol is TLS 1.2 (or 1.3): the TLS13 family with its restricted,
# FIPS and post-quantum variants, and the TLS 1.2-only and forward-secrecy ones.
SSL_POLICY = re.compile(r"^ELBSecurityPolicy-(TLS13-1-[23]-[A-Za-z0-9-]+|TLS-1-2-[A-Za-z0-9-]+|FS-1-2-[A-Za-z0-9-]+)$")
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


class SslPolicy(str, Checked):
    @classmethod
    def parse(cls, value: Any) -> "Checked":
        if not isinstance(value, str) or not SSL_POLICY.fullmatch(value):
            raise ValueError(
                f"expected an ALB TLS policy whose oldest protocol is TLS 1.2, such as {DEFAULT_SSL_POLICY} "
                f"or ELBSecurityPolicy-TLS13-1-3-2021-06 (got {clip(value)})"
            )
        return cls(value)

    @classmethod
    def schema(cls) -> dict:
        return {"type": "string", "pattern": SSL_POLICY.pattern, "description": "TLS policy of an HTTPS listener (TLS 1.2 at least)."}


STATISTIC = re.compile(r"^(SampleCount|Average|Sum|Minimum|Maximum|p(\d{1,2}(\.\d{1,2})?|100))$")


class Statistic(str, Checked):
    @classmethod
    def parse(cls, value: Any) -> "Checked":
        if not isinstance(value, str) or not STATISTIC.match(value):
            raise ValueError(f"expected SampleCount, Average, Sum, Minimum, Maximum or pNN such as p99 (got {clip(value)})")
        return cls(value)

    @classmethod
    def schema(cls) -> dict:
        return {"type": "string", "pattern": STATISTIC.pattern,
                "description": "SampleCount, Average, Sum, Minimum, Maximum or a percentile such as p99."}


class StrategyName(str, Checked):
    """Strategies are declared once, in the registry (release/strategies); read when a spec is
    validated, so the spec never imports the release engine at import time."""

    @classmethod
    def parse(cls, value: Any) -> "Checked":
        from deployer.release.strategies import names

        if value not in names():
            quoted = [f"'{n}'" for n in names()]
            raise ValueError(f"expected {', '.join(quoted[:-1])} or {quoted[-1]} (got {clip(value)})")
        return cls(value)

    @classmethod
    def schema(cls) -> dict:
        from deployer.release.strategies import names

        return {"type": "string", "enum": list(names())}


SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,23}$")


class ServiceName(str, Checked):
    @classmethod
    def parse(cls, value: Any) -> "Checked":
        if not isinstance(value, str) or not SERVICE_NAME.match(value):
            raise ValueError(
                "expected lowercase letters, digits and '-', starting with a letter, at most 24 characters "
                "(target group names are limited to 32)"
            )
        return cls(value)

    @classmethod
    def schema(cls) -> dict:
        return {"type": "string", "pattern": SERVICE_NAME.pattern, "description": "Set from the key under `services`."}


LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


class RetentionDays(int, Checked):
    @classmethod
    def parse(cls, value: Any) -> "RetentionDays":
        if isinstance(value, bool) or value not in LOG_RETENTION_DAYS:
            raise ValueError(f"expected one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return cls(value)

    @classmethod
    def schema(cls) -> dict:
        return {"type": "integer", "enum": list(LOG_RETENTION_DAYS)}
