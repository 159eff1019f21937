"""A release is data: the steps a plan is made of. Frozen, printable, serialisable.

Each step is idempotent: the executor can run it again after a crash without harm.
`NEW_REVISION` stands for the task definition registered by the plan's first step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from deployer.spec.units import format_duration

NEW_REVISION = "<new revision>"


@dataclass(frozen=True)
class Step:
    @property
    def kind(self) -> str:
        return type(self).__name__

    def describe(self) -> str:
        return self.kind

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class RegisterTaskDefinition(Step):
    from_task_definition: str
    image: str

    def describe(self) -> str:
        return f"register a revision of {short(self.from_task_definition)} with image {self.image}"


@dataclass(frozen=True)
class DeployColor(Step):
    """Point a color's ECS service at a revision with a desired count (0 scales it down)."""

    color: str
    task_definition: str
    desired_count: int
    min_healthy_percent: int = 100
    max_percent: int = 200

    def describe(self) -> str:
        return f"deploy {short(self.task_definition)} to {self.color} x{self.desired_count} ({self.min_healthy_percent}/{self.max_percent})"


@dataclass(frozen=True)
class WaitHealthy(Step):
    """Until the color runs `count` tasks of its revision and as many targets are healthy."""

    color: str
    count: int

    def describe(self) -> str:
        return f"wait for {self.count} healthy {self.color} target(s)"


@dataclass(frozen=True)
class WatchRollout(Step):
    """Follow a rolling ECS deployment to COMPLETED or FAILED, gating on the way if `gate`."""

    color: str
    gate: bool

    def describe(self) -> str:
        return f"follow the {self.color} rollout" + (" with gates" if self.gate else "")


@dataclass(frozen=True)
class PointTestListener(Step):
    color: str

    def describe(self) -> str:
        return f"point the test listener at {self.color}"


@dataclass(frozen=True)
class PreTrafficCheck(Step):
    """HTTP checks through the test listener before any user traffic reaches the color."""

    color: str
    requests: int = 10

    def describe(self) -> str:
        return f"check {self.color} through the test listener ({self.requests} requests)"


@dataclass(frozen=True)
class ShiftTraffic(Step):
    weights: tuple[tuple[str, int], ...]

    def as_dict(self) -> dict[str, int]:
        return dict(self.weights)

    def describe(self) -> str:
        return "shift traffic: " + ", ".join(f"{c} {w}%" for c, w in self.weights)


@dataclass(frozen=True)
class Bake(Step):
    seconds: int

    def describe(self) -> str:
        return f"bake {format_duration(self.seconds)}"


@dataclass(frozen=True)
class Gate(Step):
    canary: str
    baseline: str | None
    weight: int

    def describe(self) -> str:
        against = f"against {self.baseline}" if self.baseline else "against absolute limits"
        return f"gate {self.canary} at {self.weight}% {against}"


@dataclass(frozen=True)
class Pause(Step):
    """Wait for `deployer promote` (or `abort`)."""

    weight: int

    def describe(self) -> str:
        return f"pause at {self.weight}% until promoted"


@dataclass(frozen=True)
class Promote(Step):
    live: str

    def describe(self) -> str:
        return f"promote {self.live} to live"


@dataclass(frozen=True)
class ScaleDown(Step):
    """Scale a color to zero, once `after` seconds have passed since the step began."""

    color: str
    after: int = 0

    def describe(self) -> str:
        return f"scale {self.color} down" + (f" after {format_duration(self.after)} warm" if self.after else "")


STEP_TYPES: dict[str, type[Step]] = {
    cls.__name__: cls
    for cls in (RegisterTaskDefinition, DeployColor, WaitHealthy, WatchRollout, PointTestListener, PreTrafficCheck,
                ShiftTraffic, Bake, Gate, Pause, Promote, ScaleDown)
}


def step_from_dict(data: dict) -> Step:
    cls = STEP_TYPES[data["kind"]]
    values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
    if cls is ShiftTraffic:
        values["weights"] = tuple((c, int(w)) for c, w in values["weights"])
    return cls(**values)


def short(task_definition: str) -> str:
    """`arn:...:task-definition/web:7` -> `web:7`."""
    return task_definition.rsplit("/", 1)[-1]
