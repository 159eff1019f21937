"""A train plan is data, like a release plan: the waves, each member's own plan, the order.

`deployer train release NAME --dry-run` prints it with a time estimate; the train's record stores
it, so a resumed train goes on with the plan it started with. Pure: built from plans the caller
made (each member's planner observed its own service).
"""

from __future__ import annotations

from dataclasses import dataclass

from deployer.release.plan import Plan
from deployer.spec.units import format_duration


@dataclass(frozen=True)
class Member:
    service: str
    image: str
    wave: int  # 0-based
    plan: Plan
    seconds: int  # the member's own estimate

    def to_dict(self) -> dict:
        return {"service": self.service, "image": self.image, "wave": self.wave, "strategy": self.plan.strategy,
                "estimated_seconds": self.seconds, "plan": self.plan.to_dict()}


@dataclass(frozen=True)
class TrainPlan:
    name: str
    waves: tuple[tuple[Member, ...], ...]
    bake_between: int
    max_parallel: int
    on_failure: str

    @property
    def members(self) -> list[Member]:
        return [m for wave in self.waves for m in wave]

    def wave_seconds(self, wave: tuple[Member, ...]) -> int:
        """Members run max_parallel at a time, longest first: about the sum of each batch's slowest."""
        ordered = sorted((m.seconds for m in wave), reverse=True)
        return sum(ordered[i] for i in range(0, len(ordered), self.max_parallel))

    @property
    def seconds(self) -> int:
        return sum(self.wave_seconds(w) for w in self.waves) + self.bake_between * max(0, len(self.waves) - 1)

    def to_dict(self) -> dict:
        return {"train": self.name, "bake_between": self.bake_between, "max_parallel": self.max_parallel,
                "on_failure": self.on_failure, "estimated_seconds": self.seconds,
                "waves": [[m.to_dict() for m in wave] for wave in self.waves]}

    def lines(self) -> list[str]:
        out = [f"train {self.name}: {len(self.members)} members in {len(self.waves)} wave(s), "
               f"{self.max_parallel} at a time, on failure: {self.on_failure.replace('_', ' ')}"]
        for index, wave in enumerate(self.waves):
            if index:
                out.append(f"  then bake {format_duration(self.bake_between)}" if self.bake_between else "  then")
            out.append(f"  wave {index + 1} (about {format_duration(self.wave_seconds(wave))}):")
            for member in wave:
                out.append(f"    {member.service}: {member.plan.strategy} of {member.image} "
                           f"({len(member.plan.steps)} steps, about {format_duration(member.seconds)})")
        out.append(f"estimated duration: {format_duration(self.seconds)} (without pauses)")
        return out


def build(name: str, order: list[list[str]], images: dict[str, str], plans: dict[str, tuple[Plan, int]],
          bake_between: int, max_parallel: int, on_failure: str) -> TrainPlan:
    """The train plan from its order and each member's (plan, estimated seconds)."""
    waves = tuple(tuple(Member(s, images[s], i, *plans[s]) for s in wave) for i, wave in enumerate(order))
    return TrainPlan(name, waves, int(bake_between), int(max_parallel), on_failure)


def parse_images(values: tuple[str, ...], members: list[str], train: str) -> dict[str, str]:
    """`--image SERVICE=IMAGE` for each member, or a clear usage error naming what is wrong."""
    from deployer.errors import UsageError
    from deployer.spec.checked import Image

    images: dict[str, str] = {}
    for value in values:
        service, sep, image = value.partition("=")
        if not sep or not service or not image:
            raise UsageError(f"--image {value}: expected SERVICE=IMAGE, e.g. web=registry/web:2")
        if service not in members:
            raise UsageError(f"--image {value}: {service} is not a member of train {train} (members: {', '.join(members)})")
        if service in images:
            raise UsageError(f"--image {value}: {service} has an image already ({images[service]})")
        try:
            images[service] = str(Image.parse(image))
        except ValueError as exc:
            raise UsageError(f"--image {value}: {exc}") from None
    missing = [m for m in members if m not in images]
    if missing:
        raise UsageError(f"train {train} needs an image for every member; missing: {', '.join(missing)} "
                         f"(--image {missing[0]}=IMAGE)")
    return images

