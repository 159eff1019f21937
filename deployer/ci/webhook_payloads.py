"""What a delivery's body must be before any field of it is used.

Checked in this order, each failure a `PayloadError` with a 4xx status and one line:
UTF-8 text (GitHub's form content type: the `payload=` field of it), arrays and objects nested at
most `MAX_DEPTH` levels (counted without parsing, so a deep document never reaches the recursive
JSON parser), JSON, a JSON object, then the event's schema model (pydantic): the fields the
receiver reads, of the types it expects, with bounded lengths; the rest of a payload is ignored.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictBool, StringConstraints, ValidationError

MAX_DEPTH = 32  # GitHub's payloads nest about 5 levels
FORM = "application/x-www-form-urlencoded"

# A JSON string (to its closing quote, or to the end when unterminated: it never backtracks) or a
# run of anything but quotes and brackets; removing both leaves the brackets of the structure.
_NOT_BRACKETS = re.compile(r'"(?:[^"\\]+|\\.)*(?:"|\\?\Z)|[^"\[\]{}]+', re.S)
_INNERMOST = re.compile(r"\[\]|\{\}")


class PayloadError(ValueError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def nesting_depth(text: str, limit: int = MAX_DEPTH) -> int | None:
    """How deep the arrays and objects of a JSON text nest, without parsing it: strings and scalars
    are dropped, then one level of innermost `[]`/`{}` pairs is peeled per pass (each pass linear,
    at most `limit` + 1 of them). None when deeper than `limit`; -1 when the brackets do not pair up."""
    brackets = _NOT_BRACKETS.sub("", text)
    for depth in range(limit + 1):
        if not brackets:
            return depth
        peeled = _INNERMOST.sub("", brackets)
        if len(peeled) == len(brackets):
            return -1
        brackets = peeled
    return None


def json_text(body: bytes, mimetype: str) -> str:
    """The JSON text of a body: the body itself, or the `payload` field of a form body (GitHub's
    `application/x-www-form-urlencoded`; the signature was checked over the raw body)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError(400, "body is not UTF-8") from None
    if mimetype == FORM and not text.lstrip().startswith(("{", "[")):  # `curl -d '{...}'` sends JSON as a form
        try:
            fields = parse_qsl(text, keep_blank_values=True, strict_parsing=True, errors="strict", max_num_fields=16)
        except ValueError:
            raise PayloadError(400, f"{FORM} body is not payload=<JSON>") from None
        values = [value for key, value in fields if key == "payload"]
        if len(values) != 1:
            raise PayloadError(400, f"{FORM} body without exactly one `payload` field")
        return values[0]
    return text


def load_object(text: str, mimetype: str = "application/json") -> dict:
    depth = nesting_depth(text)
    kind = "" if mimetype in ("", "application/json", FORM) else f" ({mimetype[:64]})"
    if depth is None:
        raise PayloadError(400, f"body is nested deeper than {MAX_DEPTH} levels")
    if depth < 0:
        raise PayloadError(400, f"body is not JSON{kind}: brackets do not pair up")
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError cannot happen past the depth check
        raise PayloadError(400, f"body is not JSON{kind}") from None
    if not isinstance(payload, dict):
        raise PayloadError(400, "body is not a JSON object")
    return payload


# ---------------------------------------------------------------- schema models
Text = Annotated[str, StringConstraints(max_length=1024)]
Name = Annotated[str, StringConstraints(max_length=256)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class Repository(Payload):
    full_name: Name


class Push(Payload):
    """GitHub `push`: a tag push is `ref: refs/tags/<tag>`; a deleted tag is `deleted: true`."""
    ref: Text
    repository: Repository
    deleted: StrictBool = False


class GitHubRelease(Payload):
    tag_name: Text


class ReleaseEvent(Payload):
    """GitHub `release`: only `action: published` starts a release."""
    action: Name
    repository: Repository
    release: GitHubRelease


def _number_as_text(value):
    return str(value) if type(value) is int else value  # a build number; never a bool


class Generic(Payload):
    """`POST /hooks/generic`: {"event": "image.pushed", "service": "web", "tag": "42"} (a number tag too),
    or `"train": "storefront"` instead of `service` for a train's entry (the receiver wants exactly one)."""
    event: Name
    service: Name | None = None
    train: Name | None = None
    tag: Annotated[Text, BeforeValidator(_number_as_text)]


M = TypeVar("M", bound=Payload)

_MESSAGES = {
    "missing": "missing",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "dict_type": "expected an object",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
}


def parse(model: type[M], payload: dict) -> M:
    """The payload as `model`, or a 400 naming the first field that does not fit (one line)."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        if first["type"] == "string_too_long":
            message = f"longer than {first.get('ctx', {}).get('max_length')} characters"
        else:
            message = _MESSAGES.get(first["type"], first["msg"])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise PayloadError(400, f"payload: {where}: {message}{more}") from None
