"""The runtime side of one sandbox Lambda invocation (started by deployer.sandbox.lambda_runner).

Run as `python -I -S -B lambda_bootstrap.py`: standard library only, and it never imports deployer,
so the function sees nothing but its own code (LAMBDA_TASK_ROOT, first on sys.path as /var/task is
on AWS) and the standard library. It resolves _HANDLER as the Python runtime does (`module.path.function`,
https://docs.aws.amazon.com/lambda/latest/dg/python-handler.html), reads the event (JSON) on stdin and
writes exactly one JSON envelope on the stdout it was given: the function's own output (print,
logging, even writes to fd 1) goes to stderr, its log. Error types are the runtime's
(Runtime.ImportModuleError, Runtime.HandlerNotFound, Runtime.MarshalError, or the exception's class).
The process bounds itself, so it ends even if the sandbox that started it is gone: starting and
importing the handler get INIT_LIMIT seconds (Lambda's init phase budget), the handler its Timeout
from when it is called; at either end SIGALRM, left at its default action, ends the process, which
the runner reports as a timeout.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import resource
import signal
import sys
import time
import traceback

# Set by the runner for this invocation only; removed before the function's code is imported.
PRIVATE = ("_SANDBOX_REQUEST_ID", "_SANDBOX_TIMEOUT", "_SANDBOX_FUNCTION_ARN")
INIT_LIMIT = 10.0  # seconds


class Context:
    """The handler's `context` (https://docs.aws.amazon.com/lambda/latest/dg/python-context.html)."""

    def __init__(self, request_id: str, deadline: float, arn: str):
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def error(kind: str, message: str, request_id: str, trace: list[str] | None = None) -> dict:
    return {"ok": False, "errorType": kind, "errorMessage": message, "requestId": request_id, "stackTrace": trace or []}


def log_like_lambda(request_id: str) -> None:
    """The runtime's handler on the root logger (level left at WARNING until the function sets it): lines
    as Lambda's text format writes them, `[LEVEL]<tab>time<tab>request ID<tab>message`
    (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(f"[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t{request_id}\t%(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logging.getLogger().addHandler(handler)


def load(handler: str, request_id: str):
    """The handler function, or the runtime's error envelope."""
    module_name, _, function_name = handler.rpartition(".")
    if not module_name or not function_name:
        return None, error("Runtime.MalformedHandlerName", f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)",
                           request_id)
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        return None, error("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", request_id)
    except Exception as exc:  # noqa: BLE001 - any import failure is the function's init error
        return None, error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", request_id)
    function = getattr(module, function_name, None)
    if not callable(function):
        return None, error("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'", request_id)
    return function, None


def invoke(function, event, request_id: str, arn: str, timeout: float) -> dict:
    started = time.time()
    context = Context(request_id, started + timeout, arn)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the function's imports may have set one of their own
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        result = function(event, context)
    except Exception as exc:  # noqa: BLE001 - the function's exception is its error
        signal.setitimer(signal.ITIMER_REAL, 0)
        frames = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])  # the function's frames, not ours
        print(f"[ERROR] {type(exc).__name__}: {exc}\nTraceback (most recent call last):\n{''.join(frames)}", end="", file=sys.stderr)
        out = error(type(exc).__name__, str(exc), context.aws_request_id, frames)
        out.update(start=started, end=time.time())
        return out
    signal.setitimer(signal.ITIMER_REAL, 0)
    ended = time.time()
    try:
        answer = json.dumps(result)
    except (TypeError, ValueError) as exc:
        out = error("Runtime.MarshalError", f"Unable to marshal response: {exc}", context.aws_request_id)
    else:
        out = {"ok": True, "answer": answer}
    out.update(start=started, end=ended)
    return out


def peak_memory_kb() -> int:
    """This program's peak resident memory: VmHWM (ru_maxrss would include the sandbox's own, kept across exec on Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> int:
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.setitimer(signal.ITIMER_REAL, INIT_LIMIT)
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")  # the envelope's only way out
    os.dup2(2, 1)  # from here on fd 1 is the log too
    sys.stdout = sys.stderr
    request_id, timeout, arn = (os.environ.pop(name, "") for name in PRIVATE)
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    log_like_lambda(request_id)
    event = json.loads(sys.stdin.read() or "{}")
    function, failed = load(os.environ.get("_HANDLER", ""), request_id)
    initialised = time.time()
    if failed is None:
        envelope = invoke(function, event, request_id, arn, float(timeout or "3"))
    else:
        signal.setitimer(signal.ITIMER_REAL, 0)
        envelope = failed
    envelope.update(init=initialised, max_rss_kb=peak_memory_kb())
    sys.stderr.flush()
    channel.write(json.dumps(envelope))
    channel.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
