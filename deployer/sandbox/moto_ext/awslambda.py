"""Lambda: Invoke runs the function as a local process (deployer.sandbox.lambda_runner), not in Docker.

AWS (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html): RequestResponse (the default)
answers 200 with the function's response, X-Amz-Function-Error `Unhandled` and Lambda's error object
when the function failed, X-Amz-Executed-Version, and with LogType Tail the last 4 KB of its log
(base64) in X-Amz-Log-Result; Event queues the invocation and answers 202 at once; DryRun answers
204. A body that is not JSON is InvalidRequestContentException. moto 5.2.5 runs functions in
Docker; without a Docker engine (as here) every invocation fails with "error running docker".

With a runner in use (`use`, by the sandbox's daemon) Invoke runs the function through it; without
one, moto's own behaviour is kept. moto keeps a function's code bytes, whether it came as ZipFile
or from S3 (AWS::Lambda::Function with Code.S3Bucket/S3Key), which `function` hands to the runner.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging

from moto.awslambda.exceptions import LambdaClientError, UnknownFunctionException
from moto.awslambda.models import LambdaFunction, lambda_backends

from deployer.sandbox.lambda_runner import Function, LambdaRunner

log = logging.getLogger("deployer.sandbox.lambda")
_runner: LambdaRunner | None = None


def use(runner: LambdaRunner | None) -> None:
    """Invoke runs functions through `runner` (None: moto's own behaviour again)."""
    global _runner
    _runner = runner


def function(fn: LambdaFunction) -> Function:
    code = getattr(fn, "code_bytes", b"") or b""
    return Function(name=fn.function_name, arn=fn.function_arn, handler=fn.handler or "", runtime=fn.run_time or "",
                    code=code, code_sha256=hashlib.sha256(code).hexdigest(), timeout=float(fn.timeout or 3),
                    memory_mb=int(fn.memory_size or 128), environment=dict(fn.environment_vars or {}),
                    package_type=fn.package_type or "Zip")


def resolve(name_or_arn: str, account: str, region: str) -> Function | None:
    """A function by name or ARN (the ARN's account and region, else the given ones); None if unknown."""
    parts = name_or_arn.split(":")
    if name_or_arn.startswith("arn:") and len(parts) >= 7:
        region, account = parts[3], parts[4]
    try:
        return function(lambda_backends[account][region].get_function(name_or_arn))
    except UnknownFunctionException:
        return None


class TooManyRequests(LambdaClientError):
    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")


def install() -> None:
    original = LambdaFunction.invoke

    def invoke(self, body, request_headers, response_headers):
        runner = _runner
        if runner is None:
            return original(self, body, request_headers, response_headers)
        payload = (body.encode() if isinstance(body, str) else body or b"") or b"{}"
        try:
            json.loads(payload)
        except ValueError as exc:
            raise LambdaClientError("InvalidRequestContentException", f"Could not parse request body into json: {exc}") from None
        kind = request_headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if kind == "DryRun":
            return b""
        if kind == "Event":
            if runner.submit(function(self), payload, source="Event") is None:
                raise TooManyRequests()
            return b""
        done = runner.run(function(self), payload, source="Invoke")
        if done.error:
            response_headers["x-amz-function-error"] = done.error
        response_headers["x-amz-executed-version"] = "$LATEST"
        response_headers["x-amz-log-result"] = base64.b64encode(done.log_tail.encode()).decode()
        return done.payload

    LambdaFunction.invoke = invoke
