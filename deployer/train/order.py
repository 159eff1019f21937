"""The order of a release train: its waves, from `depends_on` (a DAG) or given as they are.

A wave is the set of members whose dependencies were all released in earlier waves (Kahn's
algorithm, level by level); within a wave, members keep the order the train lists them in. A
cycle is named as a path (`a -> b -> a`), so the error says what to cut. Pure: no I/O.
"""

from __future__ import annotations


class OrderError(ValueError):
    """A train whose order cannot be made: a cycle, or a dependency that is not a member."""


def waves_of(members: list[str], depends_on: dict[str, list[str]]) -> list[list[str]]:
    """Members in waves: each wave's dependencies are all in earlier waves."""
    known = set(members)
    for member, needs in depends_on.items():
        if member not in known:
            raise OrderError(f"{member} is not a member of the train (members: {', '.join(members)})")
        for need in needs:
            if need not in known:
                raise OrderError(f"{member} depends on {need}, which is not a member of the train (members: {', '.join(members)})")
            if need == member:
                raise OrderError(f"{member} depends on itself")
    placed: set[str] = set()
    waves: list[list[str]] = []
    while len(placed) < len(members):
        wave = [m for m in members if m not in placed and all(n in placed for n in depends_on.get(m, ()))]
        if not wave:
            raise OrderError(f"a cycle: {' -> '.join(_cycle([m for m in members if m not in placed], depends_on))}")
        waves.append(wave)
        placed.update(wave)
    return waves


def _cycle(left: list[str], depends_on: dict[str, list[str]]) -> list[str]:
    """One cycle among members none of which could be placed: walk dependencies until one repeats."""
    path = [left[0]]
    while True:
        following = next(n for n in depends_on.get(path[-1], ()) if n in left)
        if following in path:
            return path[path.index(following):] + [following]
        path.append(following)


def check_waves(waves: list[list[str]]) -> None:
    """Explicit waves: no member twice, no empty wave."""
    seen: set[str] = set()
    for index, wave in enumerate(waves):
        if not wave:
            raise OrderError(f"wave {index + 1} is empty")
        for member in wave:
            if member in seen:
                raise OrderError(f"{member} is in more than one wave")
            seen.add(member)
