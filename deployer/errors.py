"""One exception root for everything deployer reports to a user.

Each subclass carries the exit code the CLI returns for it (see README, "Exit codes").
The CLI has a single handler at its edge that prints the message, never a traceback
(unless `--debug`).
"""

from __future__ import annotations


class ExitCode:
    """Exit codes, the contract with CI. Documented in README.md and pipelines/README.md."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    ROLLED_BACK = 3
    ROLLBACK_FAILED = 4
    TIMED_OUT = 5
    LOCKED = 6
    INTERRUPTED = 130


class DeployerError(Exception):
    """Base of every error deployer expects and explains."""

    exit_code = ExitCode.UNEXPECTED

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def lines(self) -> list[str]:
        """The lines a user sees: the message, then what to do next."""
        out = [self.message]
        if self.hint:
            out.append(f"hint: {self.hint}")
        return out


class UsageError(DeployerError):
    """Bad flags or arguments."""

    exit_code = ExitCode.USAGE


class ConfigError(DeployerError):
    """deployer.yaml (or another input file) is missing, malformed or invalid.

    `problems` holds one line per problem: file, service, field path, what was expected.
    """

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[str], *, hint: str | None = None):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems), hint=hint)

    def lines(self) -> list[str]:
        out = list(self.problems)
        if self.hint:
            out.append(f"hint: {self.hint}")
        return out


class SynthError(DeployerError):
    """A rendered template breaks a rule that AWS would reject at deploy time."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def lines(self) -> list[str]:
        return list(self.problems)


class AwsError(DeployerError):
    """An AWS call failed in a way we could not retry away.

    `code` and `operation` come from botocore so the message names the call that failed.
    """

    def __init__(self, operation: str, code: str, message: str, *, hint: str | None = None):
        self.operation = operation
        self.code = code
        self.aws_message = message
        super().__init__(f"AWS {operation} failed: {code}: {message}", hint=hint)


class NotFound(AwsError):
    """The thing asked for does not exist (stack, service, listener, table...)."""


class ProvisionFailed(DeployerError):
    """A stack create/update failed; `events` are the stack events that explain why."""

    def __init__(self, message: str, events: list[str]):
        self.events = list(events)
        super().__init__(message)

    def lines(self) -> list[str]:
        return [self.message, *("  " + e for e in self.events)]


class TimedOut(DeployerError):
    """We stopped waiting; the state in AWS is unknown and may still change."""

    exit_code = ExitCode.TIMED_OUT


class InconsistentState(DeployerError):
    """What we found in AWS contradicts itself or our rules (e.g. traffic pointing at nothing)."""

    exit_code = ExitCode.ROLLBACK_FAILED


class Locked(DeployerError):
    """Another release holds the service's lock."""

    exit_code = ExitCode.LOCKED


class RolledBack(DeployerError):
    """A gate failed (or abort was asked) and the release was rolled back cleanly."""

    exit_code = ExitCode.ROLLED_BACK


class Interrupted(DeployerError):
    """SIGINT/SIGTERM: traffic is back on the stable color and the record says so."""

    exit_code = ExitCode.INTERRUPTED
