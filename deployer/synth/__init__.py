"""spec -> CloudFormation templates (troposphere). Pure: no AWS calls, no file writes.

One module per concern; `service_template` (deployer.synth.service_stack) composes them and runs
our own checks. The package itself imports no troposphere: the release engine and the judge
function read `deployer.synth.names` only, and the judge's artifact leaves troposphere out
(deployer.judge.package). The template builders below load on first use.
"""

from __future__ import annotations

from importlib import import_module

# exported name -> the module that defines it
_EXPORTS = {
    "bootstrap_template": "deployer.synth.bootstrap",
    "cluster_template": "deployer.synth.cluster",
    "judge_template": "deployer.synth.judge",
    "service_template": "deployer.synth.service_stack",
    "checked": "deployer.synth.checks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'deployer.synth' has no attribute {name!r}")
    return getattr(import_module(module), name)
