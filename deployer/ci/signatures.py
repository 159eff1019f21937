"""Webhook signatures, verified before anything is parsed. Pure functions, constant-time compares.

GitHub (and Jenkins or any sender configured alike): `X-Hub-Signature-256: sha256=<hex>`, an
HMAC-SHA256 of the raw body. Standard Webhooks: `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64>` over `{id}.{timestamp}.{body}`, the key being the base64 part
of a `whsec_` secret (or the secret's bytes otherwise), with a 5-minute clock tolerance.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

TOLERANCE_SECONDS = 300


def hub_signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_hub(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(hub_signature(secret, body).encode(), header.strip().encode())


def standard_key(secret: bytes) -> bytes:
    if secret.startswith(b"whsec_"):
        try:
            return base64.b64decode(secret[len(b"whsec_"):], validate=True)
        except binascii.Error:
            return secret
    return secret


def standard_signature(secret: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(standard_key(secret), signed, hashlib.sha256).digest()).decode()


def verify_standard(secret: bytes, body: bytes, message_id: str | None, timestamp: str | None,
                    signatures: str | None, now: float) -> tuple[bool, str]:
    """(ok, why not). Any one of the space-separated `v1,` signatures may match."""
    if not (message_id and timestamp and signatures):
        return False, "missing webhook-id, webhook-timestamp or webhook-signature"
    try:
        sent = int(timestamp)
    except ValueError:
        return False, "webhook-timestamp is not a number"
    if abs(now - sent) > TOLERANCE_SECONDS:
        return False, "webhook-timestamp outside the 5-minute tolerance"
    expected = standard_signature(secret, message_id, timestamp, body).encode()
    if any(hmac.compare_digest(expected, candidate.encode()) for candidate in signatures.split() if candidate.startswith("v1,")):
        return True, ""
    return False, "signature does not match"
