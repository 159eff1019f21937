"""Why a step stops a release: the exceptions handlers raise, and the named reasons a record keeps. Pure."""

from __future__ import annotations


class StepFailed(Exception):
    """A step decided the release cannot go on; `reason` is a named reason, `detail` the numbers."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class StopRequested(Exception):
    """SIGINT/SIGTERM (or a test) asked the run to stop: traffic goes back to the stable color."""


class HandedOver(Exception):
    """The run stops here and leaves the release running for another judge: the judge function
    (ECS's Lambda hooks), or the next run of the guard when a slice of its time is used up."""


class Why:
    """Reasons a release stops that are not a gate's verdict (those are `deployer.release.gates.Reason`)."""

    DEPLOYMENT_FAILED = "deployment_failed"
    CIRCUIT_BREAKER = "circuit_breaker"
    NOT_HEALTHY = "not_healthy"
    NO_HEALTHY_TARGETS = "no_healthy_targets"
    OTHER_REVISION_SERVING = "other_revision_serving"
    TIMEOUT = "timeout"
    PRE_TRAFFIC_CHECK_FAILED = "pre_traffic_check_failed"
    ABORTED = "aborted"
    ERROR = "error"
    ASKED = "asked"
    ECS_ALARM = "ecs_alarm"  # engine ecs: a deployment alarm made ECS roll back
    ORPHANED = "orphaned"  # the runner's lease ran out mid-release; the guard undid it
