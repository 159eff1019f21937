"""Release trains in the sandbox, with real traffic on every member: a 3-member train released in
order (api's blue/green over Route53 weights among them), then a train whose second wave holds a
bad member halts and rolls back the first wave's member."""

from __future__ import annotations

from tests.e2e.conftest import Traffic, run
from tests.e2e.test_releases import ready


def live(box, service: str) -> str:
    code, status, err = run(box, "status", service)
    assert code == 0, err
    return max(status["colors"], key=lambda c: status["colors"][c]["weight"] or 0)


def release_train(box, api: str, web: str, roll: str | None = None):
    """`shop` (api, then web and roll-half) with a rolling image, else `pair` (api, then web)."""
    for service in ("api", "web"):
        ready(box, service, live(box, service))
    images = ["--image", f"api={api}", "--image", f"web={web}"]
    if roll is None:
        with Traffic(box, "api", rps=60), Traffic(box, "web", rps=150):
            return run(box, "train", "release", "pair", *images, "--poll", "1s", timeout=300)
    ready(box, "roll-half", "main", 4)
    with Traffic(box, "api", rps=60), Traffic(box, "web", rps=150), Traffic(box, "roll-half", rps=40):
        return run(box, "train", "release", "shop", *images, "--image", f"roll-half={roll}", "--poll", "1s", timeout=300)


def test_a_train_releases_in_order_and_a_bad_member_halts_it_rolling_back_the_first_wave(sandbox):
    code, report, err = release_train(sandbox, "example/api:5", "example/web:6", "example/roll-half:5")
    assert code == 0, err
    assert report["result"] == "released" and report["exit_code"] == 0
    members = report["members"]
    assert {n: (m["wave"], m["state"]) for n, m in members.items()} == {
        "api": (1, "released"), "web": (2, "released"), "roll-half": (2, "released")}
    api, web, roll = (members[n]["report"] for n in ("api", "web", "roll-half"))
    assert (api["strategy"], web["strategy"], roll["strategy"]) == ("bluegreen", "canary", "rolling")
    assert api["finished_at"] <= web["started_at"] and api["finished_at"] <= roll["started_at"]  # in order
    api_live = live(sandbox, "api")
    # api is blue/green over Route53: its weighted records moved, all of them to the new color
    route53 = sandbox.client("route53")
    zone = next(z["Id"] for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == "e2e.example.com.")
    records = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    weights = {r["SetIdentifier"]: r["Weight"] for r in records if "SetIdentifier" in r and r["Name"] == "api.e2e.example.com."}
    assert sorted(weights.values()) == [0, 100] and weights[api_live] == 100 and api["live_color"] == api_live

    # the halt and the rollback of other members of the failing wave are unit tests (tests/unit/test_train.py)
    code, report, err = release_train(sandbox, "example/api:6", "example/web:3")
    assert code == 3, err
    assert report["result"] == "rolled_back" and report["reason"].startswith("web: error_rate_above"), report["reason"]
    members = report["members"]
    assert members["web"]["state"] == "failed" and members["api"]["state"] == "rolled_back", members
    assert live(sandbox, "api") == api_live  # back on the version the first train released
    assert "train pair halted by web: error_rate_above" in err
