"""A train's waves from depends_on, and the one-line errors of a train that cannot be ordered."""

from __future__ import annotations

import pytest

from deployer.errors import ConfigError
from deployer.spec.loader import parse_config
from deployer.train.order import OrderError, waves_of
from tests.conftest import ROOT

EXAMPLE = (ROOT / "examples/deployer.yaml").read_text()
HEAD = EXAMPLE[:EXAMPLE.index("  storefront:")]


@pytest.mark.parametrize("members,depends_on,expected", [
    (["a"], {}, [["a"]]),
    (["a", "b", "c"], {}, [["a", "b", "c"]]),  # no dependencies: one wave
    (["a", "b", "c"], {"b": ["a"], "c": ["a"]}, [["a"], ["b", "c"]]),
    (["c", "b", "a"], {"b": ["a"], "c": ["b"]}, [["a"], ["b"], ["c"]]),  # a chain, listed backwards
    (["a", "b", "c", "d"], {"d": ["b", "c"], "c": ["a"]}, [["a", "b"], ["c"], ["d"]]),  # a diamond's levels
])
def test_waves_are_the_levels_of_the_dependency_graph_in_the_members_order(members, depends_on, expected):
    assert waves_of(members, depends_on) == expected


@pytest.mark.parametrize("depends_on,message", [
    ({"a": ["b"], "b": ["a"]}, "a cycle: a -> b -> a"),
    ({"a": ["c"], "b": ["a"], "c": ["b"]}, "a cycle: a -> c -> b -> a"),
    ({"a": ["a"]}, "a depends on itself"),
    ({"a": ["x"]}, "a depends on x, which is not a member of the train (members: a, b, c)"),
    ({"x": ["a"]}, "x is not a member of the train (members: a, b, c)"),
])
def test_an_order_that_cannot_be_made_is_named(depends_on, message):
    with pytest.raises(OrderError) as info:
        waves_of(["a", "b", "c"], depends_on)
    assert str(info.value) == message


def test_the_example_train_releases_api_then_web_and_worker_web_together():
    train = parse_config(EXAMPLE, "deployer.yaml").trains["storefront"]
    assert train.order() == [["api"], ["web", "worker-web"]]
    assert (train.bake_between, train.max_parallel, train.on_failure) == (10, 4, "rollback_all")


@pytest.mark.parametrize("body,line", [
    ("    services: [api, web]\n    depends_on: {web: [api], api: [web]}\n",
     "deployer.yaml:147: trains.storefront.depends_on: a cycle: api -> web -> api"),
    ("    services: [api, web, shop]\n",
     "deployer.yaml:146: trains.storefront.services[2]: shop is not a service of this file (services: web, api, worker-web, checkout, orders)"),
    ("    waves: [[api], [web, cart]]\n",
     "deployer.yaml:146: trains.storefront.waves: cart is not a service of this file (services: web, api, worker-web, checkout, orders)"),
    ("    services: [api]\n    waves: [[web]]\n",
     "deployer.yaml:147: trains.storefront.waves: give either waves, or services with depends_on; not both"),
    ("    waves: [[api], [api, web]]\n", "deployer.yaml:146: trains.storefront.waves: api is in more than one wave"),
    ("    services: [api, api]\n", "deployer.yaml:146: trains.storefront.services: a member is listed twice: api"),
    ("    services: [api]\n    on_failure: undo\n",
     "deployer.yaml:147: trains.storefront.on_failure: expected 'rollback_all' or 'stop' (got 'undo')"),
    ("    services: [api]\n    max_parallel: 0\n", "deployer.yaml:147: trains.storefront.max_parallel: expected greater than or equal to 1 (got 0)"),
])
def test_a_train_that_cannot_run_is_one_line_naming_the_field(body, line):
    with pytest.raises(ConfigError) as info:
        parse_config(HEAD + "  storefront:\n" + body, "deployer.yaml")
    assert str(info.value).splitlines()[0] == line
