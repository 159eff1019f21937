"""The sandbox's Lambda runner with small scripted zips: one fresh `python -I -S` process an invocation.

AWS Lambda: the handler (`module.function`) runs with the zip's contents on its path, its
environment variables and the reserved ones, for at most Timeout seconds; an exception, a timeout,
an exit of the runtime or an answer that is not JSON is a function error (FunctionError Unhandled,
with an errorType); the log carries START, END and REPORT lines.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
import zipfile

import pytest

from deployer.sandbox.lambda_runner import Function, LambdaRunner

ECHO = '''
import json, logging, os, sys

logging.getLogger().setLevel(logging.INFO)


def handle(event, context):
    print("print goes to the log")
    os.write(1, b"so does fd 1\\n")
    logging.info("and logging")
    logging.getLogger("app").debug("not at DEBUG")
    return {"event": event, "path": sys.path[0], "cwd": os.getcwd(), "environ": dict(os.environ),
            "context": [context.function_name, context.aws_request_id, context.memory_limit_in_mb,
                        context.invoked_function_arn, context.get_remaining_time_in_millis()]}
'''

MISBEHAVING = '''
import os, time


def handle(event, context):
    what = event["do"]
    if what == "raise":
        raise ValueError("no good")
    if what == "exit":
        os._exit(3)
    if what == "sleep":
        print("sleeping")
        time.sleep(30)
    if what == "set":
        return {1, 2}
    if what == "import":
        import yaml  # installed for the sandbox, not in the zip
    return {"done": what}
'''

# The scripted lifecycle hook: IN_PROGRESS twice (counting in hookDetails), then SUCCEEDED; FAILED when asked.
HOOK = '''
import json, sys


def handle(event, context):
    print("EVENT " + json.dumps(event, sort_keys=True), file=sys.stderr)
    details = event.get("hookDetails") or {}
    if details.get("mode") == "fail":
        return {"hookStatus": "FAILED"}
    count = details.get("count", 0)
    if count < 2:
        return {"hookStatus": "IN_PROGRESS", "callBackDelay": 1, "hookDetails": {"count": count + 1}}
    return {"hookStatus": "SUCCEEDED"}
'''


def zip_of(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def function(files: dict[str, str], handler: str, name: str = "fn", timeout: float = 3.0, env: dict | None = None) -> Function:
    code = zip_of(files)
    return Function(name, f"arn:aws:lambda:us-east-1:123456789012:function:{name}", handler, "python3.11", code,
                    hashlib.sha256(code).hexdigest(), timeout, 256, env or {})


SANDBOX_ENV = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "sandbox", "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
               "DEPLOYER_HTTP_PROXY": "http://127.0.0.1:2"}


@pytest.fixture
def runner(tmp_path):
    made = LambdaRunner(tmp_path / "cache", SANDBOX_ENV)
    yield made
    made.stop()


def test_a_handler_answers_with_its_environment_and_nothing_of_ours(runner, caplog, monkeypatch):
    monkeypatch.setenv("DEPLOYER_NOT_FOR_FUNCTIONS", "1")
    fn = function({"pkg/__init__.py": "", "pkg/echo.py": ECHO}, "pkg.echo.handle",
                  env={"DEPLOYER_TABLE": "releases", "AWS_ENDPOINT_URL": "https://overridden"})
    with caplog.at_level(logging.INFO, logger="deployer.sandbox.lambda"):
        done = runner.run(fn, b'{"deployer": "ping"}')
    assert done.error is None
    answer = done.answer()
    assert answer["event"] == {"deployer": "ping"}
    root = runner.cache / fn.code_sha256
    assert answer["path"] == answer["cwd"] == str(root)
    environ = answer["environ"]
    assert {k: environ[k] for k in ("DEPLOYER_TABLE", "AWS_ENDPOINT_URL", "DEPLOYER_HTTP_PROXY", "AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME",
                                    "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")} == {
        "DEPLOYER_TABLE": "releases", "AWS_ENDPOINT_URL": "http://127.0.0.1:1", "DEPLOYER_HTTP_PROXY": "http://127.0.0.1:2",
        "AWS_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "fn", "_HANDLER": "pkg.echo.handle", "LAMBDA_TASK_ROOT": str(root),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}
    assert "DEPLOYER_NOT_FOR_FUNCTIONS" not in environ and not any(k.startswith("_SANDBOX") for k in environ)
    name, request_id, memory, arn, left = answer["context"]
    assert (name, memory, arn) == ("fn", 256, fn.arn) and 0 < left <= 3000 and request_id == done.record.request_id
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == f"fn: START RequestId: {request_id} Version: $LATEST"
    assert {"fn: print goes to the log", "fn: so does fd 1"} <= set(lines)
    (logged,) = [line for line in lines if line.endswith("and logging")]
    assert logged.startswith("fn: [INFO]\t") and logged.endswith(f"Z\t{request_id}\tand logging")
    assert not any("not at DEBUG" in line for line in lines)
    assert lines[-2] == f"fn: END RequestId: {request_id}" and lines[-1].startswith(f"fn: REPORT RequestId: {request_id}\tDuration: ")
    assert "Init Duration: " in lines[-1] and "REPORT RequestId" in done.log_tail and len(done.log_tail) <= 4096


@pytest.mark.parametrize("do, kind, message", [
    ("raise", "ValueError", "no good"),
    ("exit", "Runtime.ExitError", "Runtime exited with error: exit status 3"),
    ("set", "Runtime.MarshalError", "Unable to marshal response: Object of type set is not JSON serializable"),
    ("import", "ModuleNotFoundError", "No module named 'yaml'"),  # no site-packages: the zip carries what it needs
])
def test_a_failing_function_is_a_function_error(runner, do, kind, message):
    done = runner.run(function({"bad.py": MISBEHAVING}, "bad.handle"), json.dumps({"do": do}).encode())
    body = done.answer()
    assert done.error == "Unhandled" and body["errorType"] == kind and message in body["errorMessage"]
    assert body["requestId"] == done.record.request_id and done.record.error_type == kind
    if kind == "ValueError":
        assert body["stackTrace"] and all("lambda_bootstrap" not in frame for frame in body["stackTrace"])


@pytest.mark.parametrize("handler, kind, message", [
    ("missing.handle", "Runtime.ImportModuleError", "Unable to import module 'missing': No module named 'missing'"),
    ("bad.nope", "Runtime.HandlerNotFound", "Handler 'nope' missing on module 'bad'"),
    ("bad", "Runtime.MalformedHandlerName", "Bad handler 'bad'"),
])
def test_a_handler_that_cannot_be_found(runner, handler, kind, message):
    done = runner.run(function({"bad.py": MISBEHAVING}, handler), b"{}")
    assert done.error == "Unhandled" and done.answer()["errorType"] == kind and message in done.answer()["errorMessage"]


def test_a_function_that_runs_past_its_timeout_is_stopped(runner):
    started = time.monotonic()
    done = runner.run(function({"bad.py": MISBEHAVING}, "bad.handle", timeout=1), b'{"do": "sleep"}')
    assert 1.0 <= time.monotonic() - started < 5
    assert done.error == "Unhandled" and done.answer()["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in done.answer()["errorMessage"]


def test_code_is_unpacked_once_per_hash_and_timings_are_kept(runner):
    echo = function({"echo.py": ECHO}, "echo.handle")
    for _ in range(2):
        assert runner.run(echo, b"{}").error is None
    runner.run(function({"echo.py": ECHO + "\n# another revision\n"}, "echo.handle"), b"{}")
    assert sorted(p.name for p in runner.cache.iterdir()) == sorted({echo.code_sha256, hashlib.sha256(
        zip_of({"echo.py": ECHO + "\n# another revision\n"})).hexdigest()})
    records = runner.records()
    assert len(records) == 3 and all(r.cold and r.init_ms and r.handler_ms is not None and r.total_ms >= r.init_ms for r in records)
    summary = runner.summary()
    assert (summary["invocations"], summary["errors"]) == (3, 0)
    assert (summary["cold_start_ms"]["last"], summary["init_ms"]["last"]) == (records[-1].total_ms, records[-1].init_ms)


def test_background_invocations_by_name_and_stop(tmp_path, caplog):
    fns = {"echo": function({"echo.py": ECHO}, "echo.handle", name="echo"),
           "slow": function({"bad.py": MISBEHAVING}, "bad.handle", name="slow", timeout=30)}
    runner = LambdaRunner(tmp_path, SANDBOX_ENV, resolve=lambda name: fns.get(name.rsplit(":", 1)[-1]))
    assert runner.submit("echo", b'{"n": 1}', "test").result(timeout=10).answer()["event"] == {"n": 1}
    missing = runner.invoke("arn:aws:lambda:us-east-1:123456789012:function:nope", b"{}")
    assert missing.answer()["errorType"] == "ResourceNotFoundException" and missing.error == "Unhandled"
    with caplog.at_level(logging.INFO, logger="deployer.sandbox.lambda"):
        slow = runner.submit("slow", b'{"do": "sleep"}', "test")
        deadline = time.monotonic() + 10
        while "slow: sleeping" not in caplog.messages and time.monotonic() < deadline:
            time.sleep(0.02)
    runner.stop()
    assert slow.result(timeout=10).answer()["errorType"] == "Runtime.ExitError"  # killed
    assert runner.submit("echo", b"{}", "test") is None  # stopped: nothing new starts
