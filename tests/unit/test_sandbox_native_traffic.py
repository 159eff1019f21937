"""The sandbox's traffic generator reaches an ECS-native service through the listener of its production rule."""

from __future__ import annotations

import pytest

from deployer.sandbox.traffic import listener_of

LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"


@pytest.mark.parametrize("arn, listener", [
    (LISTENER.replace(":listener/", ":listener-rule/") + "/9683b2d02a6cabee", LISTENER),  # engine ecs: the production rule
    (LISTENER, LISTENER),
    ("", ""),
])
def test_the_listener_of_a_rule(arn, listener):
    assert listener_of(arn) == listener
