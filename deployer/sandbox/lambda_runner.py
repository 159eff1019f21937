"""Lambda functions of the sandbox, run as local processes: one fresh process an invocation.

AWS Lambda runs a zip function's Handler with the zip's contents on the import path, its
Environment.Variables plus the reserved variables
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime),
for at most Timeout seconds. An exception, a timeout, an exit of the runtime or an answer that is
not JSON is a function error: Invoke answers X-Amz-Function-Error `Unhandled` with an error object
(errorType, errorMessage; https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html,
https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html).

Here the zip is unpacked once per code hash under `cache`, and each invocation is
`python -I -S -B deployer/sandbox/lambda_bootstrap.py` with the function's directory as its working
directory: no site-packages and none of the sandbox's environment, so the zip must carry every
dependency (this tests the artifact users deploy; AWS's Python runtime also offers a boto3 of its
own, which the sandbox does not). Every python3.x runtime runs on the sandbox's own interpreter.
The event goes in on stdin, the answer comes back on stdout; the function's log (stderr) is
forwarded line by line to the sandbox's log with the function's name, START/END/REPORT lines
included as Lambda writes them. Every invocation is a cold start: `records()` and `summary()` keep
the init (process start + the handler's module imported), handler and total durations of the last
RECORDS invocations.
Nothing here imports moto: deployer.sandbox.moto_ext.awslambda turns moto's functions into
`Function`s and routes Invoke here.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

log = logging.getLogger("deployer.sandbox.lambda")

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
UNZIPPED_LIMIT = 262_144_000  # bytes (Lambda quotas: 250 MB unzipped)
RESPONSE_LIMIT = 6 * 1024 * 1024  # bytes of a synchronous response (Lambda quotas: 6 MB)
LOG_TAIL = 4096  # bytes of log returned with LogType Tail (API_Invoke: "the last 4 KB")
LOG_LINES = 1000  # lines of one invocation forwarded to the sandbox's log; the rest is counted
RECORDS = 256  # invocations whose timings are kept
WORKERS, QUEUE = 4, 64  # invocations run at once in the background, and waiting for a worker
INIT_LIMIT = 10.0 + 2.0  # seconds to start and import the handler (Lambda's init budget, lambda_bootstrap's own) + slack
PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Function:
    """What running a function needs; built from moto's function by deployer.sandbox.moto_ext.awslambda."""

    name: str
    arn: str
    handler: str
    runtime: str
    code: bytes = field(repr=False)
    code_sha256: str  # hex digest of `code`: the unpacked copy's directory name
    timeout: float = 3.0  # seconds
    memory_mb: int = 128
    environment: dict = field(default_factory=dict, hash=False)
    package_type: str = "Zip"


@dataclass(frozen=True)
class Record:
    """One invocation's timings (milliseconds); `cold` is always true here: a fresh process each time."""

    function: str
    request_id: str
    source: str  # who invoked it: Invoke, Event, a schedule, an ECS lifecycle hook
    started_at: float  # epoch seconds
    init_ms: float | None  # process start to the handler's module imported (Lambda's Init Duration)
    handler_ms: float | None  # the handler's call (Lambda's Duration)
    total_ms: float  # process start to exit
    max_memory_mb: int | None
    error_type: str | None = None
    cold: bool = True


@dataclass(frozen=True)
class Invocation:
    payload: bytes  # the function's answer (JSON), or Lambda's error object
    error: str | None  # "Unhandled" on a function error (Invoke's X-Amz-Function-Error)
    log_tail: str  # the last LOG_TAIL bytes of its log (Invoke's X-Amz-Log-Result, decoded)
    record: Record

    def answer(self):
        return json.loads(self.payload)


Resolve = Callable[[str], "Function | None"]  # a function name or ARN -> the function, None when unknown


class LambdaRunner:
    def __init__(self, cache: Path, environment: dict[str, str], resolve: Resolve | None = None):
        """`environment`: what every function gets from the sandbox (credentials, region, endpoint,
        DEPLOYER_HTTP_PROXY); it overrides the function's own variables of the same names."""
        self.cache = Path(cache)
        self.environment = dict(environment)
        self.resolve = resolve or (lambda name: None)
        self._unpack_lock = threading.Lock()
        self._lock = threading.Lock()
        self._records: deque[Record] = deque(maxlen=RECORDS)
        self._counts = {"invocations": 0, "errors": 0}
        self._live: set[subprocess.Popen] = set()
        self._pending = 0
        self._pool: ThreadPoolExecutor | None = None
        self._stopped = False

    # ------------------------------------------------------------ invoking
    def invoke(self, name_or_arn: str, payload: bytes, source: str = "Invoke") -> Invocation:
        function = self.resolve(name_or_arn)
        if function is None:
            return self._failed(name_or_arn, source, "ResourceNotFoundException", f"Function not found: {name_or_arn}")
        return self.run(function, payload, source)

    def submit(self, target: Function | str, payload: bytes, source: str = "Event") -> Future | None:
        """Run it on a worker; None when QUEUE invocations already wait (the caller says what that means)."""
        with self._lock:
            if self._stopped or self._pending >= QUEUE:
                return None
            self._pending += 1
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="lambda")
            pool = self._pool

        def work() -> Invocation:
            try:
                if isinstance(target, Function):
                    return self.run(target, payload, source)
                return self.invoke(target, payload, source)
            finally:
                with self._lock:
                    self._pending -= 1

        return pool.submit(work)

    def run(self, function: Function, payload: bytes, source: str = "Invoke") -> Invocation:
        if function.package_type != "Zip" or not function.runtime.startswith("python"):
            return self._failed(function.name, source, "Sandbox.UnsupportedRuntime",
                                f"The deployer sandbox runs python zip functions only, not {function.package_type} {function.runtime}.")
        try:
            root = self._unpack(function)
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            return self._failed(function.name, source, "InvalidZipFileException", f"Lambda could not unzip the deployment package: {exc}")
        return self._spawn(function, root, payload, source)

    # ------------------------------------------------------------ state
    def records(self) -> list[Record]:
        with self._lock:
            return list(self._records)

    def summary(self, recent: int = 20) -> dict:
        """For the sandbox's state.json: counts; `cold_start_ms`, process start to answer (every invocation
        here is a cold start); `init_ms`, process start to the handler's module imported (what Lambda
        reports as Init Duration: imports a handler makes when called count in its Duration); the last
        invocations."""
        with self._lock:
            kept = list(self._records)
            counts = dict(self._counts)
        ran = [r for r in kept if r.init_ms is not None]
        return {**counts, "cold_start_ms": _stats([r.total_ms for r in ran]), "init_ms": _stats([r.init_ms for r in ran]),
                "recent": [asdict(r) for r in kept[-recent:]]}

    def stop(self) -> None:
        """Kill every running invocation; nothing new starts."""
        with self._lock:
            self._stopped = True
            live = list(self._live)
            pool = self._pool
        for process in live:
            _kill(process)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ the process
    def _unpack(self, function: Function) -> Path:
        target = self.cache / function.code_sha256
        if target.is_dir():
            return target
        with self._unpack_lock:
            if target.is_dir():
                return target
            self.cache.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(io.BytesIO(function.code)) as archive:
                if sum(i.file_size for i in archive.infolist()) > UNZIPPED_LIMIT:
                    raise ValueError(f"unzipped size must be smaller than {UNZIPPED_LIMIT} bytes")
                scratch = Path(tempfile.mkdtemp(dir=self.cache, prefix=".unpacking-"))
                try:
                    archive.extractall(scratch)  # member names with .. or a leading / stay inside (zipfile)
                    scratch.rename(target)
                except BaseException:
                    shutil.rmtree(scratch, ignore_errors=True)
                    raise
        return target

    def _env(self, function: Function, root: Path, request_id: str) -> dict[str, str]:
        stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[$LATEST]{request_id.replace('-', '')}"
        return {
            "PATH": PATH, "LANG": "en_US.UTF-8", "TZ": ":UTC",
            **{str(k): str(v) for k, v in function.environment.items()},
            **self.environment,
            "_HANDLER": function.handler, "LAMBDA_TASK_ROOT": str(root), "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": function.name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}", "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "_SANDBOX_REQUEST_ID": request_id, "_SANDBOX_TIMEOUT": f"{function.timeout:g}", "_SANDBOX_FUNCTION_ARN": function.arn,
        }

    def _spawn(self, function: Function, root: Path, payload: bytes, source: str) -> Invocation:
        request_id = str(uuid.uuid4())
        lines = _Log(function.name)
        lines.add(f"START RequestId: {request_id} Version: $LATEST")
        started = time.time()
        env = self._env(function, root, request_id)
        process = subprocess.Popen([sys.executable, "-I", "-S", "-B", str(BOOTSTRAP)], cwd=str(root), env=env,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        with self._lock:
            self._live.add(process)
            if self._stopped:  # stop() came while it started
                _kill(process)
        answer = bytearray()
        readers = [threading.Thread(target=_read_bounded, args=(process.stdout, answer), daemon=True),
                   threading.Thread(target=lines.follow, args=(process.stderr,), daemon=True)]
        for reader in readers:
            reader.start()
        timed_out = True
        try:
            try:
                process.stdin.write(payload)
                process.stdin.close()
            except OSError:
                pass  # it exited before reading its event: its exit says why
            # its own timers end it (lambda_bootstrap); this is in case they do not
            timed_out = not _exited(process, INIT_LIMIT + function.timeout)
        finally:
            _kill(process)  # its session: whatever it started (or itself, when it hung) ends with it
            process.wait()
            with self._lock:
                self._live.discard(process)
        for reader in readers:
            reader.join(timeout=5)
        ended = time.time()
        envelope = _envelope(bytes(answer))
        if timed_out or process.returncode == -signal.SIGALRM:
            failure = ("Sandbox.Timedout", f"RequestId: {request_id} Error: Task timed out after {function.timeout:.2f} seconds")
        elif envelope is None:
            why = f"signal {-process.returncode}" if process.returncode < 0 else f"exit status {process.returncode}"
            failure = ("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with error: {why}")
        elif not envelope.get("ok"):
            failure = (envelope.get("errorType", "Unhandled"), envelope.get("errorMessage", ""))
        elif len(envelope["answer"]) > RESPONSE_LIMIT:
            failure = ("Function.ResponseSizeTooLarge", "Response payload size exceeded maximum allowed payload size (6291556 bytes).")
        else:
            failure = None
        record = _record(function, request_id, source, started, ended, envelope, failure)
        lines.add(f"END RequestId: {request_id}")
        lines.add(_report(record, function.memory_mb))
        self._keep(record)
        if failure is None:
            return Invocation(envelope["answer"].encode(), None, lines.tail(), record)
        body = {"errorMessage": failure[1], "errorType": failure[0], "requestId": request_id}
        if envelope and envelope.get("stackTrace"):
            body["stackTrace"] = envelope["stackTrace"]
        return Invocation(json.dumps(body).encode(), "Unhandled", lines.tail(), record)

    def _failed(self, name: str, source: str, kind: str, message: str) -> Invocation:
        """An invocation that never started a process."""
        request_id = str(uuid.uuid4())
        record = Record(name, request_id, source, time.time(), None, None, 0.0, None, kind)
        log.info("%s: %s: %s", name, kind, message)
        self._keep(record)
        body = {"errorMessage": message, "errorType": kind, "requestId": request_id}
        return Invocation(json.dumps(body).encode(), "Unhandled", "", record)

    def _keep(self, record: Record) -> None:
        with self._lock:
            self._records.append(record)
            self._counts["invocations"] += 1
            self._counts["errors"] += record.error_type is not None


class _Log:
    """One invocation's log: each line to the sandbox's log (at most LOG_LINES), the tail kept."""

    def __init__(self, function: str):
        self.function = function
        self.count = 0
        self._tail: deque[str] = deque()
        self._size = 0
        self._lock = threading.Lock()

    def add(self, line: str) -> None:
        with self._lock:
            self.count += 1
            if self.count <= LOG_LINES:
                log.info("%s: %s", self.function, line)
            elif self.count == LOG_LINES + 1:
                log.info("%s: (more log lines than %d: not forwarded)", self.function, LOG_LINES)
            self._tail.append(line + "\n")
            self._size += len(line) + 1
            while self._size > LOG_TAIL and len(self._tail) > 1:
                self._size -= len(self._tail.popleft())

    def follow(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            self.add(raw.decode("utf-8", "replace").rstrip("\n"))
        stream.close()

    def tail(self) -> str:
        with self._lock:
            return "".join(self._tail)[-LOG_TAIL:]


def _stats(values: list[float]) -> dict | None:
    return {"last": values[-1], "median": round(statistics.median(values), 1), "max": max(values)} if values else None


def _read_bounded(stream, into: bytearray) -> None:
    """Read all of it, keeping at most one byte past RESPONSE_LIMIT (and the envelope around it)."""
    for chunk in iter(lambda: stream.read(65536), b""):
        if len(into) <= RESPONSE_LIMIT + 4096:
            into.extend(chunk)
    stream.close()


def _envelope(raw: bytes) -> dict | None:
    try:
        found = json.loads(raw)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _record(function: Function, request_id: str, source: str, started: float, ended: float, envelope: dict | None,
            failure: tuple[str, str] | None) -> Record:
    envelope = envelope or {}

    def ms(a, b):
        return round((b - a) * 1000, 1) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None

    rss = envelope.get("max_rss_kb")
    return Record(function.name, request_id, source, started, ms(started, envelope.get("init")),
                  ms(envelope.get("start"), envelope.get("end")), round((ended - started) * 1000, 1),
                  math.ceil(rss / 1024) if isinstance(rss, int) else None, failure[0] if failure else None)


def _report(record: Record, memory_mb: int) -> str:
    """Lambda's REPORT line (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html)."""
    duration = record.handler_ms if record.handler_ms is not None else record.total_ms
    text = (f"REPORT RequestId: {record.request_id}\tDuration: {duration:.2f} ms\tBilled Duration: {math.ceil(duration)} ms\t"
            f"Memory Size: {memory_mb} MB\tMax Memory Used: {record.max_memory_mb or 0} MB")
    if record.init_ms is not None:
        text += f"\tInit Duration: {record.init_ms:.2f} ms"
    if record.error_type:
        text += f"\tStatus: error\tErrorType: {record.error_type}"
    return text


def _exited(process: subprocess.Popen, limit: float) -> bool:
    """Wait for it to exit, without reaping it (its process group cannot be reused before `_kill`); False
    after `limit` seconds. Polls every few milliseconds: Popen.wait's 50 ms would show in every duration."""
    deadline = time.monotonic() + limit
    delay = 0.0005
    while os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.005)
    return True


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: anything it started goes too
    except (ProcessLookupError, PermissionError):
        pass
