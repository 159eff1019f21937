"""Who runs a release: a CI job, a webhook delivery or a person. Pure: reads the given environment."""

from __future__ import annotations

import getpass
import socket
from typing import Mapping


def actor_from_env(env: Mapping[str, str]) -> str:
    if env.get("DEPLOYER_ACTOR"):
        return env["DEPLOYER_ACTOR"]
    if env.get("GITHUB_ACTIONS") == "true":
        return f"github:{env.get('GITHUB_REPOSITORY', '?')}#{env.get('GITHUB_RUN_ID', '?')}"
    if env.get("JENKINS_URL") or env.get("BUILD_TAG"):
        return f"jenkins:{env.get('JOB_NAME', '?')}#{env.get('BUILD_NUMBER', '?')}"
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
