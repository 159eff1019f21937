"""Malformed deliveries over real HTTP: every one a 4xx with one line, never a 5xx, nothing started.

Named cases first (each crashed the receiver or was refused), then generated bodies (hypothesis,
derandomized: the same examples on every run) against both endpoints, then the depth counter
against the real nesting of generated JSON.
"""

from __future__ import annotations

import itertools
import json
import time
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from deployer.ci import signatures
from deployer.ci.hooks_config import HooksConfig
from deployer.ci.webhook import Receiver, Store
from deployer.ci.webhook_payloads import FORM, MAX_DEPTH, nesting_depth
from tests.functional.test_webhook import SECRET, Client, Runner, serving

FUZZ = settings(max_examples=200, derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=list(HealthCheck))
ids = itertools.count()


@pytest.fixture(scope="module")
def hooks():
    return HooksConfig.model_validate({
        "max_body_bytes": 65536,  # deep bodies fit: the depth check, not the size cap, must stop them
        "releases": [
            {"service": "web", "repository": "acme/web", "image": "registry/web:{tag}", "tag_pattern": r"^v\d+\.\d+\.\d+$"},
            {"service": "api", "image": "registry/api:{tag}", "tag_pattern": r"^\d+$"},
        ],
    })


@pytest.fixture(scope="module")
def server(hooks, tmp_path_factory):
    runner = Runner(seconds=0)
    receiver = Receiver(hooks, SECRET, runner, Store(tmp_path_factory.mktemp("hooks") / "releases.json"),
                        callback=lambda *args: None)
    with serving(receiver, hooks) as srv:
        yield Client(f"http://127.0.0.1:{srv.effective_port}", runner, receiver)


def signed_github(server, body: bytes, event: str = "push", content_type: str | None = "application/json", **extra):
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": f"p-{next(ids)}",
               "X-Hub-Signature-256": signatures.hub_signature(SECRET, body), **extra}
    if content_type:
        headers["Content-Type"] = content_type
    return server.post("/hooks/github", body, headers)


def standard_headers(body: bytes, timestamp: str | None = None) -> dict:
    msg_id, ts = f"msg_{next(ids)}", timestamp or str(int(time.time()))
    return {"webhook-id": msg_id, "webhook-timestamp": ts,
            "webhook-signature": signatures.standard_signature(SECRET, msg_id, ts, body)}


def refused(response, status: int) -> str:
    """The one-line reason of a refusal (asserting its status and shape)."""
    assert response.status == status, (response.status, response.data[:300])
    error = json.loads(response.data)["error"]
    assert error and "\n" not in error and "Traceback" not in error
    return error


def nothing_started(server, jobs_before: int):
    assert len(server.receiver.store.jobs) == jobs_before


TAG_PUSH = {"ref": "refs/tags/v1.2.3", "repository": {"full_name": "acme/web"}}


@pytest.mark.parametrize("event,body,status,reason", [
    ("push", '{"ref": "refs/tags/v1.2.3", "repository": {"full_name": "acme/web"}, "x": ' + "[" * 2000 + "]" * 2000 + "}",
     400, f"body is nested deeper than {MAX_DEPTH} levels"),
    ("push", '{"a":' * 2000 + "1" + "}" * 2000, 400, f"body is nested deeper than {MAX_DEPTH} levels"),
    ("push", "[" * 5000, 400, "body is not JSON: brackets do not pair up"),
    ("push", '{"ref": "refs/tags/v1.2.3", "repository": "acme/web"}', 400, "payload: repository: expected an object"),
    ("release", '{"action": "published", "release": "v1.2.3", "repository": {"full_name": "acme/web"}}',
     400, "payload: release: expected an object"),
    ("push", '{"ref": 5, "repository": {"full_name": "acme/web"}}', 400, "payload: ref: expected a string"),
    ("push", '{"ref": "refs/tags/v1.2.3", "repository": {"full_name": ["acme/web"]}}', 400,
     "payload: repository.full_name: expected a string"),
    ("push", '{"ref": "refs/tags/v1.2.3"}', 400, "payload: repository: missing"),
    ("push", json.dumps({**TAG_PUSH, "ref": "refs/tags/" + "v" * 2000}), 400, "payload: ref: longer than 1024 characters"),
    ("push", json.dumps({**TAG_PUSH, "deleted": True}), 422, "tag deleted"),
    ("push", json.dumps({**TAG_PUSH, "deleted": "no"}), 400, "payload: deleted: expected true or false"),
    ("push", b'{"ref": "\xff"}', 400, "body is not UTF-8"),
    ("push", "[1, 2]", 400, "body is not a JSON object"),
    ("push", '{"ref": 1' + "9" * 5000 + "}", 400, "body is not JSON"),
    ("push", "", 400, "body is not JSON"),
    ("ping", "[" * 3000 + "]" * 3000, 400, f"body is nested deeper than {MAX_DEPTH} levels"),
])
def test_malformed_payloads_are_400_with_one_line(server, event, body, status, reason):
    jobs = len(server.receiver.store.jobs)
    response = signed_github(server, body if isinstance(body, bytes) else body.encode(), event)
    assert refused(response, status) == reason
    nothing_started(server, jobs)


def test_githubs_form_content_type_is_accepted_signed_over_the_raw_body(server):
    body = urlencode({"payload": json.dumps(TAG_PUSH)}).encode()
    response = signed_github(server, body, content_type=FORM)
    assert response.status == 202, response.data
    assert json.loads(response.data)["image"] == "registry/web:v1.2.3"
    # signed over the JSON instead of the body that was sent: refused
    jobs = len(server.receiver.store.jobs)
    resigned = {"X-Hub-Signature-256": signatures.hub_signature(SECRET, json.dumps(TAG_PUSH).encode())}
    assert signed_github(server, body, content_type=FORM, **resigned).status == 401
    assert refused(signed_github(server, b"ref=refs%2Ftags%2Fv1.2.3", content_type=FORM), 400) == \
        f"{FORM} body without exactly one `payload` field"
    assert refused(signed_github(server, b"payload=%7B&payload=%7B", content_type=FORM), 400) == \
        f"{FORM} body without exactly one `payload` field"
    assert refused(signed_github(server, b"payload=" + b"%5B" * 3000 + b"%5D" * 3000, content_type=FORM), 400) == \
        f"body is nested deeper than {MAX_DEPTH} levels"
    assert refused(signed_github(server, b"payload=%FF", content_type=FORM), 400) == \
        f"{FORM} body is not payload=<JSON>"
    nothing_started(server, jobs)


def test_other_content_types_are_named_when_the_body_is_not_json(server):
    assert refused(signed_github(server, b"--x\r\n\r\nhi\r\n--x--", content_type="multipart/form-data; boundary=x"), 400) \
        == "body is not JSON (multipart/form-data)"


def test_generic_accepts_curl_d_json_and_number_tags(server):
    body = json.dumps({"event": "image.pushed", "service": "api", "tag": 42}).encode()  # `curl -d` sends it as a form
    response = server.post("/hooks/generic", body, {**standard_headers(body), "Content-Type": FORM})
    assert response.status == 202 and json.loads(response.data)["image"] == "registry/api:42"
    jobs = len(server.receiver.store.jobs)
    for payload, reason in [({"event": "image.pushed", "service": {"name": "api"}, "tag": "1"}, "payload: service: expected a string"),
                            ({"event": "image.pushed", "service": "api", "tag": True}, "payload: tag: expected a string"),
                            ({"event": ["image.pushed"], "service": "api", "tag": "1"}, "payload: event: expected a string")]:
        body = json.dumps(payload).encode()
        assert refused(server.post("/hooks/generic", body, standard_headers(body)), 400) == reason
    nothing_started(server, jobs)


def test_standard_webhook_headers_that_crashed_the_receiver(server):
    body = json.dumps({"event": "image.pushed", "service": "api", "tag": "1"}).encode()
    huge = "9" * 4000  # a number int() takes but that overflows a float when compared with the clock
    assert refused(server.post("/hooks/generic", body, standard_headers(body, huge)), 401) == "webhook-timestamp is not a number"
    unicode_digits = "١٧٠٠٠٠٠٠٠٠"
    headers = {k: v.encode().decode("latin-1") for k, v in standard_headers(body, unicode_digits).items()}
    assert server.post("/hooks/generic", body, headers).status == 401
    hub = {"X-Delivery-Id": "a b", "X-Hub-Signature-256": signatures.hub_signature(SECRET, body)}
    assert refused(server.post("/hooks/generic", body, hub), 400) == "delivery id: expected 1 to 128 printable ASCII characters"


# ---------------------------------------------------------------- generated bodies
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=12))
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
                           max_leaves=12)


def maybe(*values):
    """Mostly one of the values a real delivery has, else any JSON value in its place."""
    plausible = st.sampled_from(values)
    return st.one_of(plausible, plausible, plausible, json_values)


def fields(required: dict, optional: dict):
    """Payloads with the event's fields (each possibly of another type) or missing some."""
    return st.fixed_dictionaries(required, optional=optional) | st.fixed_dictionaries({}, optional={**required, **optional})


github_payloads = fields(
    {"ref": maybe("refs/tags/v1.2.3", "refs/tags/latest", "refs/heads/main", "refs/tags/"),
     "repository": st.fixed_dictionaries({"full_name": maybe("acme/web", "acme/other")}) | json_values},
    {"action": maybe("published", "created"),
     "release": st.fixed_dictionaries({"tag_name": maybe("v1.2.3", "v1", "")}) | json_values,
     "deleted": maybe(True, False),
     "zen": json_values})
generic_payloads = fields(
    {"event": maybe("image.pushed", "build.done"), "service": maybe("api", "web", "db"),
     "tag": maybe("42", 42, "v1.2.3", "x" * 200)},
    {"extra": json_values})


def deep(opener: str, closer: str):
    return st.integers(MAX_DEPTH - 2, 4000).map(lambda n: opener * n + "1" + closer * n)


def bodies(payloads):
    shaped = payloads.map(json.dumps)
    return st.one_of(
        shaped, shaped, shaped,
        json_values.map(json.dumps),
        deep("[", "]"), deep('{"a":', "}"), deep('{"repository":', "}"),
        st.tuples(payloads, deep("[", "]")).map(lambda p: json.dumps(p[0])[:-1] + ', "x": ' + p[1] + "}" if p[0] else p[1]),
        st.text(max_size=200),
    ).map(str.encode) | st.binary(max_size=200)


header_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40)
def mostly(*values):
    """Mostly one of these header values, else any text."""
    return st.one_of(*[st.sampled_from(values)] * 4, header_text)


content_types = mostly(None, "application/json", FORM, FORM, "text/plain", "multipart/form-data; boundary=x")
github_events = mostly("push", "push", "release", "release", "ping", "issues", "")


def check(server, response, jobs_before: int):
    event(f"HTTP {response.status}")  # pytest --hypothesis-show-statistics: how far the bodies got
    assert response.status < 500, (response.status, response.data[:300])
    if response.status >= 400:
        refused(response, response.status)
    if response.status != 202:
        nothing_started(server, jobs_before)


def every_release_was_accepted(server):
    """Each release that ran had its 202 (a job), and ran once."""
    deadline = time.monotonic() + 10
    while len(server.runner.calls) < len(server.receiver.store.jobs) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.runner.calls) == len(server.receiver.store.jobs)


def test_fuzz_github_endpoint(server):
    @FUZZ
    @given(body=bodies(github_payloads), event=github_events,
           content_type=content_types, as_form=st.booleans(), signing=st.sampled_from(["good", "good", "good", "bad", "none"]),
           delivery=st.one_of(*[st.just(None)] * 4, header_text))
    def deliver(body, event, content_type, as_form, signing, delivery):
        if content_type == FORM and as_form:
            body = urlencode({"payload": body.decode("utf-8", "replace")}).encode()
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery if delivery is not None else f"f-{next(ids)}"}
        if content_type:
            headers["Content-Type"] = content_type
        if signing != "none":
            headers["X-Hub-Signature-256"] = signatures.hub_signature(SECRET if signing == "good" else b"another secret!!", body)
        jobs = len(server.receiver.store.jobs)
        check(server, server.post("/hooks/github", body, headers), jobs)

    deliver()
    every_release_was_accepted(server)


def test_fuzz_generic_endpoint(server):
    @FUZZ
    @given(body=bodies(generic_payloads), content_type=content_types, scheme=st.sampled_from(["standard", "hub", "none"]),
           timestamp=st.one_of(*[st.just(None)] * 4, header_text, st.integers(0, 10**30).map(str)),
           msg_id=st.one_of(*[st.just(None)] * 4, header_text))
    def deliver(body, content_type, scheme, timestamp, msg_id):
        headers = {"Content-Type": content_type} if content_type else {}
        if scheme == "standard":
            msg_id = msg_id or f"msg_{next(ids)}"
            ts = timestamp if timestamp is not None else str(int(time.time()))
            headers.update({"webhook-id": msg_id, "webhook-timestamp": ts,
                            "webhook-signature": signatures.standard_signature(SECRET, msg_id, ts, body)})
        elif scheme == "hub":
            headers.update({"X-Delivery-Id": msg_id or f"j-{next(ids)}", "X-Hub-Signature-256": signatures.hub_signature(SECRET, body)})
        jobs = len(server.receiver.store.jobs)
        check(server, server.post("/hooks/generic", body, headers), jobs)

    deliver()
    every_release_was_accepted(server)


def true_depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((true_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((true_depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(value=json_values, text_noise=st.text(alphabet='[]{}"\\', max_size=8))
def test_depth_is_counted_without_parsing(value, text_noise):
    text = json.dumps({"k" + text_noise: value, text_noise: [text_noise]})  # brackets and quotes inside strings too
    assert nesting_depth(text) == true_depth(json.loads(text))
    assert nesting_depth("[" * 40 + "]" * 40) is None and nesting_depth("[" * 40 + "]" * 39) is None
    assert nesting_depth('{"a": [}') == -1 and nesting_depth('"[[[') == 0


def test_depth_counting_is_linear():
    started = time.monotonic()
    for text in ['"\\"' * 30000, '"' + "\\" * 60001, "[" * 60000, "[]" * 30000, '{"a":' * 12000]:
        nesting_depth(text)
    assert time.monotonic() - started < 1.0
