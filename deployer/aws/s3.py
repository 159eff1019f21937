"""S3: the judge function's artifacts in the bootstrap stack's code bucket, one object per content."""

from __future__ import annotations

import base64

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
