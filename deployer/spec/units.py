"""Small value parsers for the spec: durations and Fargate sizes. Pure, no I/O."""

from __future__ import annotations

import math
import re

def clip(value, limit: int = 60) -> str:
    """repr() on one line and at most `limit` characters, for echoing input in an error."""
    text = repr(value)
    if len(text) <= limit:
        return text
    tail = "..." + (text[-1] if isinstance(value, str) else "")
    return text[: limit - len(tail)] + tail


_DURATION = re.compile(r"^(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?$")
_FORMS = "a duration such as 30s, 2m or 1h30m"


def parse_duration(value: int | float | str) -> int:
    """Whole seconds from `90`, `"90s"`, `"2m"`, `"1h30m"` or `"1m30s"`.

    After a larger unit, minutes and seconds are 0..59 (`1h99m` is refused, `99m` is not); a
    number is whole seconds (`1.5` is refused, `2.0` is 2); NaN and infinities are refused.
    Raises ValueError saying what is expected, which the spec turns into a field error.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {_FORMS}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected {_FORMS}, a finite number of seconds (got {value!r})")
        if not value.is_integer():
            raise ValueError(f"expected whole seconds, e.g. 90 or 1m30s (got {value!r})")
        value = int(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError("expected a duration of 0 seconds or more")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected {_FORMS} (got {'nothing' if value is None else 'a ' + type(value).__name__})")
    text = value.strip()
    match = _DURATION.match(text) if len(text) <= 32 else None
    if not text or not match or not any(match.groupdict().values()):
        if re.fullmatch(r"[0-9]{1,18}", text):
            return int(text)
        shown = repr(value) if len(value) <= 40 else repr(value[:36]) + "..."
        raise ValueError(f"expected {_FORMS} (got {shown})")
    h, m, s = (int(match[k] or 0) for k in ("h", "m", "s"))
    if (match["h"] and m >= 60) or ((match["h"] or match["m"]) and s >= 60):
        raise ValueError(f"expected minutes and seconds 0..59 after a larger unit (got {value!r}; did you mean {_hms(h * 3600 + m * 60 + s)}?)")
    return h * 3600 + m * 60 + s


def _hms(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, sec = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (sec, "s")) if n) or "0s"


def format_duration(seconds: float) -> str:
    """`125` -> `2m05s`; short for people reading progress lines."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


# Valid Fargate task sizes: cpu units -> allowed memory (MiB), from the ECS task size table.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


def fargate_size_problem(cpu: int, memory: int) -> str | None:
    """None when (cpu, memory) is a valid Fargate size, else what would be valid."""
    allowed = FARGATE_SIZES.get(cpu)
    if allowed is None:
        return f"cpu {cpu} is not a Fargate size (expected one of {', '.join(map(str, FARGATE_SIZES))})"
    if memory not in allowed:
        lo, hi = allowed[0], allowed[-1]
        return f"memory {memory} does not fit cpu {cpu} on Fargate (expected {lo}..{hi} MiB in the steps of the ECS task size table)"
    return None
