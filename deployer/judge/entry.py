"""The Lambda handler: one entry point, three kinds of event.

- an ECS lifecycle hook's payload (`serviceArn`, `targetServiceRevisionArn`, the traffic weights and
  `hookDetails`): judge that stage, answer `hookStatus` (deployer.judge.hook);
- `{"deployer": "guard"}` from the EventBridge Scheduler schedule: finish or undo releases whose runner
  is gone (deployer.judge.guard);
- `{"deployer": "ping"}`: the version, so `deployer judge install` can check what it deployed.

Configuration comes from the function's environment: DEPLOYER_TABLE (the release records table).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("deployer.judge")


def handle(event: dict, context=None) -> dict:
    logging.getLogger().setLevel(os.environ.get("DEPLOYER_LOG_LEVEL", "INFO"))
    kind = event.get("deployer") if isinstance(event, dict) else None
    if kind == "ping":
        from deployer import __version__

        return {"ok": True, "version": __version__}
    from deployer.judge.context import JudgeContext

    ctx = JudgeContext.from_env(os.environ, context)
    if kind == "guard":
        from deployer.judge.guard import tick

        return tick(ctx, context)
    from deployer.judge.hook import answer

    return answer(event, ctx)
