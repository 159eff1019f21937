"""The AWS door retries transient errors on idempotent calls only, and never really sleeps in tests."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from deployer.aws.base import Adapter, is_transient
from deployer.errors import AwsError, ConfigError, NotFound


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
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
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


def test_mutating_call_is_sent_once():
    a, slept = adapter([client_error("Throttling"), {"ok": 1}])
    with pytest.raises(AwsError) as info:
        a._call("describe_things", idempotent=False)
    assert a.client.sent == 1 and slept == []
    assert info.value.code == "Throttling"


def test_gives_up_after_the_attempts_with_one_clear_error():
    a, slept = adapter([client_error("Throttling")] * 3, attempts=3)
    with pytest.raises(AwsError) as info:
        a._call("describe_things", idempotent=True)
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
