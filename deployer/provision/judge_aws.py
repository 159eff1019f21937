"""The AWS calls of `deployer judge install` beyond CloudFormation: the artifact in S3, the ping.

Adapters in the manner of deployer/aws: named for what they do for us, botocore's errors turned
into ours and retried by `Adapter._call` (both calls are safe to send again).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from deployer.aws.base import Adapter
from deployer.errors import NotFound


class CodeBucket(Adapter):
    """S3: the judge's artifacts, one object per content (judge/<sha256>.zip)."""

    service_name = "s3"

    def checksum(self, bucket: str, key: str) -> str | None:
        """The object's SHA-256 as S3 keeps it (base64): "" if stored without one, None if there is no object."""
        try:
            head = self._call("head_object", idempotent=True, Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        except NotFound:
            return None
        return head.get("ChecksumSHA256") or ""

    def upload(self, bucket: str, key: str, body: bytes, sha256_hex: str) -> None:
        """S3 checks the bytes against the digest and refuses them if they differ."""
        self._call("put_object", idempotent=True, Bucket=bucket, Key=key, Body=body, ContentType="application/zip",
                   ChecksumSHA256=b64(sha256_hex))


def b64(sha256_hex: str) -> str:
    """A hex digest as S3's checksums are written."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode()


@dataclass(frozen=True)
class Invocation:
    status: int
    function_error: str  # "" when the function answered; else Lambda's Unhandled (or moto's Handled)
    payload: bytes

    def answer(self) -> dict | None:
        """The function's JSON answer; None if it is not a JSON object."""
        try:
            value = json.loads(self.payload or b"null")
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


class JudgeFunction(Adapter):
    """Lambda: invoke the judge function once, synchronously."""

    service_name = "lambda"

    def invoke(self, name: str, event: dict) -> Invocation:
        # only read-only events go through here (the ping), so a retry after an ambiguous failure is safe
        response = self._call("invoke", idempotent=True, FunctionName=name, Payload=json.dumps(event).encode())
        return Invocation(int(response.get("StatusCode", 0)), response.get("FunctionError", "") or "",
                          response["Payload"].read() if response.get("Payload") is not None else b"")
