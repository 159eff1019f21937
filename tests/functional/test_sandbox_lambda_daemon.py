"""Lambda functions in a real sandbox process, driven with boto3 alone; one ECS minute lasts 0.2 s here.

AWS: a function made by CloudFormation from a zip in S3 answers Invoke and reaches AWS (its
endpoint) and, in a VPC, the load balancers; an EventBridge Scheduler rate schedule invokes it every
period. The sandbox's state.json shows the invocations with their cold-start times, and its log each
invocation's lines and REPORT line, as CloudWatch Logs would.
"""

from __future__ import annotations

import json

import boto3
import pytest

from deployer.sandbox import control
from tests.functional.conftest import sandbox_daemon
from tests.functional.test_sandbox_lambda import stack_template
from tests.functional.test_sandbox_lambda_runner import zip_of
from tests.functional.test_sandbox_native import wait

REACHES = '''
import os
import urllib.error
import urllib.request


def status(url, proxy=None):
    handlers = [urllib.request.ProxyHandler({"http": proxy} if proxy else {})]
    try:
        with urllib.request.build_opener(*handlers).open(url, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def handle(event, context):
    env = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "DEPLOYER_HTTP_PROXY", "AWS_REGION", "DEPLOYER_TABLE")}
    return {"env": env, "event": event, "moto": status(env["AWS_ENDPOINT_URL"] + "/"),
            "front_door": status("http://nowhere.elb.amazonaws.com/", env["DEPLOYER_HTTP_PROXY"]) if env["DEPLOYER_HTTP_PROXY"] else None}
'''


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    directory = tmp_path_factory.mktemp("lambda-sandbox")
    try:
        yield sandbox_daemon(directory, "0.2", 600)
    finally:
        control.down(directory)


def test_a_function_and_its_schedule_run_in_the_sandbox(box):
    def aws(name: str):
        return boto3.client(name, endpoint_url=box.endpoint, region_name=box.region, aws_access_key_id="x", aws_secret_access_key="x")

    aws("s3").create_bucket(Bucket="artifacts")
    aws("s3").put_object(Bucket="artifacts", Key="judge-1.zip", Body=zip_of({"judge.py": REACHES}))
    aws("cloudformation").create_stack(StackName="deployer-judge", TemplateBody=json.dumps(stack_template("judge-1.zip")))

    def scheduled() -> list[dict]:
        state = json.loads((box.directory / "state.json").read_text())
        return [r for r in (state.get("lambda") or {}).get("recent", []) if r["source"].startswith("schedule ")]

    runs = wait(lambda: len(scheduled()) >= 3 and scheduled(), timeout=30)
    assert runs and all(r["function"] == "deployer-judge" and r["cold"] and r["init_ms"] > 0 and r["error_type"] is None for r in runs)
    state = json.loads((box.directory / "state.json").read_text())
    assert state["lambda"]["cold_start_ms"]["median"] > 0

    answer = aws("lambda").invoke(FunctionName="deployer-judge", Payload=b'{"deployer": "ping"}')
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {
        "env": {"AWS_ENDPOINT_URL": box.endpoint, "DEPLOYER_HTTP_PROXY": None, "AWS_REGION": box.region,
                "DEPLOYER_TABLE": "deployer-releases"},
        "event": {"deployer": "ping"}, "moto": 200, "front_door": None}  # outside the VPC: no way to the listeners
    log = (box.directory / "sandbox.log").read_text()
    assert "deployer-judge: REPORT RequestId: " in log and "Init Duration: " in log
