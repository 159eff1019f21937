"""The pre-traffic check's HTTP client: one GET, answered below 400 or not. The only HTTP the release engine sends."""

from __future__ import annotations

import urllib.error
import urllib.request

from deployer.release.ports import Probe


def http_probe(proxy: str | None = None, timeout: float = 5.0) -> Probe:
    """A probe through `proxy` (DEPLOYER_HTTP_PROXY: a test listener only reachable inside the VPC) or direct."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy, "https": proxy} if proxy else None))

    def probe(url: str) -> str | None:
        try:
            with opener.open(url, timeout=timeout) as response:
                return str(response.status) if response.status >= 400 else None
        except urllib.error.HTTPError as error:
            return str(error.code)
        except OSError as error:
            return type(error).__name__

    return probe
