"""What every adapter shares: calls that turn botocore errors into ours, and retries.

Retries (tenacity, exponential backoff with jitter) apply to throttling and transient
errors on idempotent calls. A call that changes state is retried (same policy) only when the
error proves AWS never processed it: a throttling answer, or a connection that failed before
the request was sent. Its ambiguous failures (dropped connection, read timeout, 5xx: it may
have been processed) surface, so that the caller can look for the effect before sending it
again. `sleep` and `clock` are injected so tests never really wait.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from deployer.errors import AwsError, ConfigError, DeployerError, NotFound

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)
TRANSIENT_CODES = frozenset({"InternalError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout"})
NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "ServiceNotFoundException",
        "ClusterNotFoundException",
        "ListenerNotFound",
        "RuleNotFound",
        "TargetGroupNotFound",
        "LoadBalancerNotFound",
        "NoSuchHostedZone",
        "ChangeSetNotFound",
        "ChangeSetNotFoundException",
    }
)


# Raised by botocore's http session while connecting (DNS, TCP connect), before a byte of the
# request is written. ConnectionClosedError and ReadTimeoutError (HTTPClientError) come after
# the request may have gone out: AWS may have processed it. ProxyConnectionError is left out:
# urllib3 1.x also reports a reset after sending through a proxy as a ProxyError.
NOT_SENT_ERRORS = (EndpointConnectionError, ConnectTimeoutError)


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "Unknown")


def is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx answers and dropped connections: worth another try if the call is idempotent."""
    if isinstance(exc, NOT_SENT_ERRORS + (ConnectionClosedError, ReadTimeoutError, ResponseParserError)):
        return True  # dropped connections, and 5xx pages that are not even AWS's format
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in THROTTLING_CODES or code in TRANSIENT_CODES or status >= 500
    return False


def was_not_processed(exc: BaseException) -> bool:
    """The error proves AWS did not act on the request: safe to send again even if it changes state."""
    if isinstance(exc, NOT_SENT_ERRORS):
        return True
    if isinstance(exc, ClientError):
        return error_code(exc) in THROTTLING_CODES
    return False


def is_ambiguous(exc: BaseException) -> bool:
    """A transient failure after which the request may or may not have been processed.

    Accepts the botocore error or our translated error (whose cause is the botocore one).
    """
    if isinstance(exc, DeployerError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return is_transient(exc) and not was_not_processed(exc)


class Adapter:
    """Base of the per-service adapters. Subclasses call `self._call(...)` for every request."""

    service_name = ""

    def __init__(
        self,
        client: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = 6,
        max_backoff: float = 8.0,
    ):
        self.client = client
        self.sleep = sleep
        self.clock = clock
        self.attempts = attempts
        self.max_backoff = max_backoff
        self.calls = 0  # requests sent, for benchmarks and tests

    def _call(self, operation: str, *, idempotent: bool, **params: Any) -> dict:
        """Send one request; retry what is safe to send again (see the module's docstring).

        `idempotent=False`: only errors proving the request was not processed are retried; an
        ambiguous one is raised (translated, `from` the botocore error: see `is_ambiguous`).
        """
        method = getattr(self.client, operation)
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=0.2, max=self.max_backoff) + wait_random(0, 0.2),
            retry=retry_if_exception(is_transient if idempotent else was_not_processed),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            return retrying(self._send, method, params)
        except DeployerError:
            raise
        except Exception as exc:  # translated once, after the last try
            raise _translate(operation, exc) from exc

    def _send(self, method: Callable, params: dict) -> dict:
        self.calls += 1
        return method(**params)


def _translate(operation: str, exc: Exception) -> Exception:
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", str(exc))
        cls = NotFound if code in NOT_FOUND_CODES or "does not exist" in message or "not found" in message.lower() else AwsError
        if code in THROTTLING_CODES:
            return AwsError(operation, code, message, hint="AWS kept throttling after retries; try again in a minute")
        return cls(operation, code, message)
    if isinstance(exc, NoCredentialsError):
        return ConfigError(["no AWS credentials found"], hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or start the sandbox")
    if isinstance(exc, NoRegionError):
        return ConfigError(["no AWS region set"], hint="set AWS_REGION or pass --region")
    if isinstance(exc, ParamValidationError):
        return AwsError(operation, "ParamValidation", str(exc).replace("\n", " "))
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError, ReadTimeoutError)):
        return AwsError(operation, "ConnectionError", str(exc), hint="is the endpoint reachable? (AWS_ENDPOINT_URL)")
    if isinstance(exc, BotoCoreError):
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return AwsError(operation, type(exc).__name__, first)
    return exc
