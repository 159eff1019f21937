"""Lambda: invoke a function once, synchronously (`deployer judge install` pings the judge)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from deployer.aws.base import Adapter


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
