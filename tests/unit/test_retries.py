"""The AWS door retries transient errors on idempotent calls, and on calls that change state only when
the error proves the request was not processed; it never really sleeps in tests."""

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from deployer.aws.base import Adapter, is_ambiguous, is_transient, was_not_processed
from deployer.errors import AwsError, ConfigError, NotFound

ENDPOINT = "http://127.0.0.1:1"


def client_error(code: str, status: int = 400, message: str = "boom") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


class FlakyClient:
    """Answers each call from a script: an exception to raise or a value to return."""

    def __init__(self, script):
        self.script = list(script)
        self.sent = 0

    def describe_things(self, **params):
        self.sent += 1
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def adapter(script, **kw):
    slept = []
    return Adapter(FlakyClient(script), sleep=slept.append, **kw), slept


@pytest.mark.parametrize(
    "exc,transient",
    [
        (client_error("Throttling"), True),
        (client_error("ThrottlingException"), True),
        (client_error("RequestLimitExceeded"), True),
        (client_error("InternalFailure", 500), True),
        (client_error("Whatever", 503), True),
        (EndpointConnectionError(endpoint_url=ENDPOINT), True),
        (ConnectTimeoutError(endpoint_url=ENDPOINT), True),
        (ConnectionClosedError(endpoint_url=ENDPOINT), True),
        (ReadTimeoutError(endpoint_url=ENDPOINT), True),
        (client_error("ValidationError"), False),
        (client_error("AccessDeniedException", 403), False),
        (ValueError("x"), False),
    ],
)
def test_transient_classification(exc, transient):
    assert is_transient(exc) is transient


def test_idempotent_call_retries_throttling_then_succeeds():
    a, slept = adapter([client_error("Throttling"), client_error("InternalError", 500), {"ok": 1}])
    assert a._call("describe_things", idempotent=True) == {"ok": 1}
    assert a.client.sent == 3 and a.calls == 3
    assert len(slept) == 2 and all(0 < s <= a.max_backoff for s in slept)


@pytest.mark.parametrize(
    "exc,not_processed,ambiguous",
    [
        (client_error("Throttling"), True, False),
        (client_error("ThrottlingException"), True, False),
        (client_error("SlowDown", 503), True, False),
        (EndpointConnectionError(endpoint_url=ENDPOINT), True, False),
        (ConnectTimeoutError(endpoint_url=ENDPOINT), True, False),
        (ConnectionClosedError(endpoint_url=ENDPOINT), False, True),
        (ReadTimeoutError(endpoint_url=ENDPOINT), False, True),
        (client_error("InternalError", 500), False, True),
        (client_error("ServiceUnavailable", 503), False, True),
        (ResponseParserError("<html>502</html>"), False, True),
        (client_error("ValidationError"), False, False),
        (client_error("ClientException"), False, False),
    ],
)
def test_not_processed_versus_ambiguous(exc, not_processed, ambiguous):
    assert was_not_processed(exc) is not_processed
    assert is_ambiguous(exc) is ambiguous


def test_throttled_mutating_call_is_retried_because_it_never_ran():
    a, slept = adapter([client_error("ThrottlingException"), {"ok": 1}])
    assert a._call("describe_things", idempotent=False) == {"ok": 1}
    assert a.client.sent == 2 and a.calls == 2 and len(slept) == 1


def test_mutating_call_that_could_not_connect_is_retried():
    a, slept = adapter([EndpointConnectionError(endpoint_url=ENDPOINT), ConnectTimeoutError(endpoint_url=ENDPOINT), {"ok": 1}])
    assert a._call("describe_things", idempotent=False) == {"ok": 1}
    assert a.client.sent == 3 and len(slept) == 2


@pytest.mark.parametrize(
    "exc,code",
    [
        (ConnectionClosedError(endpoint_url=ENDPOINT), "ConnectionError"),
        (ReadTimeoutError(endpoint_url=ENDPOINT), "ConnectionError"),
        (client_error("InternalError", 500), "InternalError"),
        (client_error("ServiceUnavailable", 503), "ServiceUnavailable"),
    ],
)
def test_ambiguous_failure_of_a_mutating_call_is_not_retried_blindly(exc, code):
    a, slept = adapter([exc, {"ok": 1}])
    with pytest.raises(AwsError) as info:
        a._call("describe_things", idempotent=False)
    assert a.client.sent == 1 and slept == []
    assert info.value.code == code and is_ambiguous(info.value)  # the caller can tell, and look for the effect


@pytest.mark.parametrize("idempotent", [True, False])  # a throttled call never ran: mutating ones are retried too
def test_gives_up_after_the_attempts_with_one_clear_error(idempotent):
    a, slept = adapter([client_error("Throttling")] * 3, attempts=3)
    with pytest.raises(AwsError) as info:
        a._call("describe_things", idempotent=idempotent)
    assert a.client.sent == 3 and len(slept) == 2
    assert info.value.lines() == ["AWS describe_things failed: Throttling: boom", "hint: AWS kept throttling after retries; try again in a minute"]


def test_validation_error_is_not_retried():
    a, slept = adapter([client_error("ValidationError", message="bad weight")])
    with pytest.raises(AwsError) as info:
        a._call("describe_things", idempotent=True)
    assert a.client.sent == 1 and info.value.message == "AWS describe_things failed: ValidationError: bad weight"


def test_not_found_and_credentials_translate():
    a, _ = adapter([client_error("ServiceNotFoundException", message="Service not found.")])
    with pytest.raises(NotFound):
        a._call("describe_things", idempotent=True)
    a, _ = adapter([NoCredentialsError()])
    with pytest.raises(ConfigError) as info:
        a._call("describe_things", idempotent=True)
    assert info.value.exit_code == 2


# --- RegisterTaskDefinition: a throttle is retried; an ambiguous failure is settled by the release's tag ---

from botocore import xform_name  # noqa: E402
from botocore.session import get_session  # noqa: E402
from botocore.validate import ParamValidator  # noqa: E402

from deployer.aws.ecs import NEWEST_REVISIONS, RELEASE_TAG, EcsReleases  # noqa: E402

ECS_MODEL = get_session().get_service_model("ecs")
ECS_OPERATIONS = {xform_name(name): name for name in ECS_MODEL.operation_names}
TD_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/{}:{}"
TOKEN = "20250101T000000Z-abc123"


class FakeEcs:
    """Task definitions of one account; parameters checked against botocore's ECS model.

    `register_script`: one item per RegisterTaskDefinition sent: None (it works), ("before", exc): raised
    and nothing registered, ("after", exc): registered, then raised (the answer was lost).
    """

    def __init__(self, register_script=()):
        self.register_script = list(register_script)
        self.revisions: dict[str, tuple[dict, list]] = {}  # arn -> (definition, tags)
        self.sent: list[str] = []
        self._add("web", {"containerDefinitions": [{"name": "web", "image": "example/web:1"}, {"name": "sidecar", "image": "envoy:1"}],
                          "networkMode": "awsvpc", "cpu": "256", "memory": "512"}, [])

    def _check(self, operation, params):
        self.sent.append(operation)
        report = ParamValidator().validate(params, ECS_MODEL.operation_model(ECS_OPERATIONS[operation]).input_shape)
        assert not report.has_errors(), report.generate_report()

    def _add(self, family, body, tags):
        revision = 1 + sum(1 for d, _ in self.revisions.values() if d["family"] == family)
        arn = TD_ARN.format(family, revision)
        self.revisions[arn] = ({**body, "family": family, "taskDefinitionArn": arn, "revision": revision, "status": "ACTIVE",
                                "compatibilities": ["EC2", "FARGATE"], "registeredAt": "2025-01-01T00:00:00Z"}, tags)
        return arn

    def describe_task_definition(self, **params):
        self._check("describe_task_definition", params)
        definition, tags = self.revisions[params["taskDefinition"]]
        return {"taskDefinition": definition, **({"tags": tags} if "TAGS" in params.get("include", []) else {})}

    def register_task_definition(self, **params):
        self._check("register_task_definition", params)
        step = self.register_script.pop(0) if self.register_script else None
        if step and step[0] == "before":
            raise step[1]
        body = {k: v for k, v in params.items() if k not in ("family", "tags")}
        arn = self._add(params["family"], body, params.get("tags", []))
        if step and step[0] == "after":
            raise step[1]
        return {"taskDefinition": self.revisions[arn][0], "tags": params.get("tags", [])}

    def list_task_definitions(self, **params):
        self._check("list_task_definitions", params)
        arns = [a for a, (d, _) in self.revisions.items() if d["family"] == params["familyPrefix"]]
        arns.sort(key=lambda a: self.revisions[a][0]["revision"], reverse=params.get("sort") == "DESC")
        return {"taskDefinitionArns": arns[: params.get("maxResults", 100)]}

    def family(self, name="web"):
        return [a for a, (d, _) in self.revisions.items() if d["family"] == name]


def ecs(script=()):
    slept = []
    return EcsReleases(FakeEcs(script), sleep=slept.append), slept


def test_one_throttle_on_register_is_retried_and_the_release_goes_on():
    e, slept = ecs([("before", client_error("ThrottlingException", message="Rate exceeded"))])
    arn = e.register_with_image(TD_ARN.format("web", 1), "web", "example/web:2", token=TOKEN)
    assert arn == TD_ARN.format("web", 2)
    assert e.client.sent == ["describe_task_definition", "register_task_definition", "register_task_definition"]
    assert e.calls == 3 and len(slept) == 1
    definition, tags = e.client.revisions[arn]
    assert [c["image"] for c in definition["containerDefinitions"]] == ["example/web:2", "envoy:1"]
    assert tags == [{"key": RELEASE_TAG, "value": TOKEN}]


@pytest.mark.parametrize("exc", [ConnectionClosedError(endpoint_url=ENDPOINT), ReadTimeoutError(endpoint_url=ENDPOINT),
                                 client_error("ServerException", 500, "internal")])
def test_register_that_happened_before_the_answer_was_lost_is_found_by_its_token(exc):
    e, slept = ecs([("after", exc)])
    arn = e.register_with_image(TD_ARN.format("web", 1), "web", "example/web:2", token=TOKEN)
    assert arn == TD_ARN.format("web", 2)
    assert e.client.family() == [TD_ARN.format("web", 1), TD_ARN.format("web", 2)]  # one new revision, no orphan
    assert e.client.sent == ["describe_task_definition", "register_task_definition", "list_task_definitions", "describe_task_definition"]
    assert slept == []


def test_register_lost_before_it_happened_is_sent_once_more():
    e, _ = ecs([("before", ConnectionClosedError(endpoint_url=ENDPOINT))])
    arn = e.register_with_image(TD_ARN.format("web", 1), "web", "example/web:2", token=TOKEN)
    assert arn == TD_ARN.format("web", 2) and len(e.client.family()) == 2
    # the newest revision (web:1) has no token, so it is looked at and the register sent again
    assert e.client.sent == ["describe_task_definition", "register_task_definition", "list_task_definitions",
                             "describe_task_definition", "register_task_definition"]


def test_a_second_ambiguous_failure_surfaces():
    e, _ = ecs([("before", ConnectionClosedError(endpoint_url=ENDPOINT)), ("before", ReadTimeoutError(endpoint_url=ENDPOINT))])
    with pytest.raises(AwsError) as info:
        e.register_with_image(TD_ARN.format("web", 1), "web", "example/web:2", token=TOKEN)
    assert info.value.code == "ConnectionError" and e.client.sent.count("register_task_definition") == 2


def test_without_a_token_an_ambiguous_register_is_not_retried_blindly():
    e, _ = ecs([("after", ConnectionClosedError(endpoint_url=ENDPOINT))])
    with pytest.raises(AwsError) as info:
        e.register_with_image(TD_ARN.format("web", 1), "web", "example/web:2")
    assert info.value.code == "ConnectionError"
    assert e.client.sent == ["describe_task_definition", "register_task_definition"]


def test_a_refused_register_is_not_looked_for():
    e, _ = ecs([("before", client_error("ClientException", 400, "Container.image should not be blank"))])
    with pytest.raises(AwsError) as info:
        e.register_with_image(TD_ARN.format("web", 1), "web", "", token=TOKEN)
    assert (info.value.code, info.value.aws_message) == ("ClientException", "Container.image should not be blank")
    assert e.client.sent == ["describe_task_definition", "register_task_definition"]


def test_find_registered_picks_the_token_among_the_newest_revisions_only():
    e, _ = ecs()
    mine = e.register_with_image(TD_ARN.format("web", 1), "web", "example/web:2", token=TOKEN)
    for n in range(3):  # other releases registered after ours
        e.register_with_image(TD_ARN.format("web", 1), "web", f"example/web:{3 + n}", token=f"other-{n}")
    e.client.sent.clear()
    assert e.find_registered("web", TOKEN) == mine
    assert e.client.sent == ["list_task_definitions"] + ["describe_task_definition"] * 4  # newest first, stops at ours
    e.client.sent.clear()
    assert e.find_registered("web", "nobody") is None
    assert e.client.sent == ["list_task_definitions"] + ["describe_task_definition"] * NEWEST_REVISIONS  # web:5 .. web:1
    for n in range(NEWEST_REVISIONS):
        e.register_with_image(TD_ARN.format("web", 1), "web", f"example/web:{10 + n}", token=f"later-{n}")
    assert e.find_registered("web", TOKEN) is None  # too old to be a lost answer of this attempt
    assert e.find_registered("api", TOKEN) is None
