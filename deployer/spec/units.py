"""Small value parsers for the spec: durations and Fargate sizes. Pure, no I/O."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def parse_duration(value: int | float | str) -> int:
    """Seconds from `90`, `"90s"`, `"2m"`, `"1h30m"` or `"1m30s"`.

    Raises ValueError with the accepted forms, which the spec turns into a field error.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 2m or 1h30m")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("expected a duration of 0 seconds or more")
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    match = _DURATION.match(text)
    if not text or not match or not any(match.groupdict().values()):
        raise ValueError(f"expected a duration such as 30s, 2m or 1h30m (got {value!r})")
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    return parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


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
