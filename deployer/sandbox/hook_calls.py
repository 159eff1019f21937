"""ECS invoking lifecycle hooks' Lambda functions, without holding up the scheduler.

The stage machine says which invocation is due (deployer.sandbox.native_deployments, `Intent.calls`);
this starts each on the Lambda runner's workers (deployer.sandbox.lambda_runner) and hands back the
finished ones' answers on a later tick (`Seen.answers`). It never waits. Without a runner (an ECS
controller built without one, as in some tests) every invocation fails at once, as a function that
cannot be invoked does: the deployment rolls back.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future

from deployer.sandbox.lambda_hooks import HookAnswer, HookCall


class HookCalls:
    def __init__(self, lambdas=None):
        """`lambdas`: the sandbox's LambdaRunner (its `submit(function ARN, payload, source)`), or None."""
        self.lambdas = lambdas
        self._lock = threading.Lock()
        self._running: dict[str, list[tuple[str, Future | str]]] = {}  # deployment ARN -> (hook ID, invocation or why none)

    def start(self, deployment_arn: str, call: HookCall) -> None:
        if self.lambdas is None:
            started: Future | str = "the sandbox runs no Lambda functions in this process"
        else:
            started = self.lambdas.submit(call.function_arn, json.dumps(call.payload).encode(), f"ECS {call.hook_id}") or \
                "TooManyRequestsException: the sandbox's Lambda workers are all busy"
        with self._lock:
            self._running.setdefault(deployment_arn, []).append((call.hook_id, started))

    def answers(self, deployment_arn: str) -> tuple[HookAnswer, ...]:
        """The answers of the deployment's invocations that have finished (each handed back once)."""
        with self._lock:
            running = self._running.get(deployment_arn, [])
            done = [(hook, future) for hook, future in running if isinstance(future, str) or future.done()]
            self._running[deployment_arn] = [item for item in running if item not in done]
        return tuple(_answer(hook, future) for hook, future in done)

    def forget(self, deployment_arn: str) -> None:
        """The deployment has finished: answers still to come are of no use."""
        with self._lock:
            self._running.pop(deployment_arn, None)


def _answer(hook_id: str, future: Future | str) -> HookAnswer:
    if isinstance(future, str):
        return HookAnswer(hook_id, error=future)
    try:
        done = future.result()
    except Exception as exc:  # noqa: BLE001 - a broken invocation is the hook's failure, not the scheduler's
        return HookAnswer(hook_id, error=f"{type(exc).__name__}: {exc}")
    if done.error:
        found = _decoded(done.payload)
        kind = found.get("errorType", done.error) if isinstance(found, dict) else done.error
        message = found.get("errorMessage", "") if isinstance(found, dict) else ""
        return HookAnswer(hook_id, error=f"{kind}: {message}" if message else kind)
    return HookAnswer(hook_id, answer=_decoded(done.payload))


def _decoded(payload: bytes):
    try:
        return json.loads(payload)
    except ValueError:
        return None
