"""Release trains in the sandbox, with real traffic on every member:
- a 3-member train released in order (api's blue/green over Route53 weights among them), while a
  second train sharing members, started meanwhile, refuses naming the holder (exit 6);
- `train rollback` puts all three back;
- Ctrl-C stops a train with traffic back on the stable color, and `train resume` finishes it;
- a train whose second wave holds a bad member halts and rolls back the first wave's member."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.e2e.conftest import Traffic, run, wait_until
from tests.e2e.test_releases import ready

pytestmark = pytest.mark.e2e


def live(box, service: str) -> str:
    code, status, err = run(box, "status", service)
    assert code == 0, err
    return max(status["colors"], key=lambda c: status["colors"][c]["weight"] or 0)


def images(**chosen: str) -> list[str]:
    return [a for service, image in chosen.items() for a in ("--image", f"{service.replace('_', '-')}={image}")]


def train_status(box, name: str) -> dict:
    code, data, err = run(box, "train", "status", name)
    assert code == 0, err
    return data


def test_a_train_releases_in_order_a_train_sharing_members_is_refused_and_rollback_undoes_it(sandbox):
    for service in ("api", "web"):
        ready(sandbox, service, live(sandbox, service))
    ready(sandbox, "roll-half", "main", 4)
    api_before, web_before = live(sandbox, "api"), live(sandbox, "web")
    done = {}

    def shop():
        done["shop"] = run(sandbox, "train", "release", "shop", *images(api="example/api:5", web="example/web:6", roll_half="example/roll-half:5"),
                           "--poll", "1s", timeout=300)

    with Traffic(sandbox, "api", rps=60), Traffic(sandbox, "web", rps=150), Traffic(sandbox, "roll-half", rps=40):
        thread = threading.Thread(target=shop)
        thread.start()
        assert wait_until(lambda: train_status(sandbox, "shop").get("state") == "running", timeout=60)  # it holds every lock
        code, refused, err = run(sandbox, "train", "release", "pair", *images(api="example/api:7", web="example/web:7"), "--poll", "1s")
        thread.join(timeout=320)
    assert code == 6, err
    assert refused["result"] == "locked" and refused["message"].startswith("train: api is locked by "), refused
    shop_id = train_status(sandbox, "shop")["id"]
    assert f"(release {shop_id})" in refused["message"]  # the holder named: the running train

    code, report, err = done["shop"]
    assert code == 0, err
    assert report["result"] == "released" and report["exit_code"] == 0
    members = report["members"]
    assert {n: (m["wave"], m["state"]) for n, m in members.items()} == {
        "api": (1, "released"), "web": (2, "released"), "roll-half": (2, "released")}
    api, web, roll = (members[n]["report"] for n in ("api", "web", "roll-half"))
    assert (api["strategy"], web["strategy"], roll["strategy"]) == ("bluegreen", "canary", "rolling")
    assert api["finished_at"] <= web["started_at"] and api["finished_at"] <= roll["started_at"]  # in order
    api_live = live(sandbox, "api")
    assert api_live != api_before and live(sandbox, "web") != web_before
    # api is blue/green over Route53: its weighted records moved, all of them to the new color
    route53 = sandbox.client("route53")
    zone = next(z["Id"] for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == "e2e.example.com.")
    records = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    weights = {r["SetIdentifier"]: r["Weight"] for r in records if "SetIdentifier" in r and r["Name"] == "api.e2e.example.com."}
    assert sorted(weights.values()) == [0, 100] and weights[api_live] == 100 and api["live_color"] == api_live

    # the whole train back: api and web switch to their warm colors, roll-half redeploys its revision
    code, back, err = run(sandbox, "train", "rollback", "shop", "--poll", "1s", timeout=240)
    assert code == 0, err
    assert back["result"] == "rolled_back" and back["id"] == shop_id and back["reason"].startswith("rollback asked by")
    assert {n: m["state"] for n, m in back["members"].items()} == {"api": "rolled_back", "web": "rolled_back", "roll-half": "rolled_back"}
    assert live(sandbox, "api") == api_before and live(sandbox, "web") == web_before
    for service in ("api", "web", "roll-half"):
        code, status, err = run(sandbox, "status", service)
        assert code == 0 and status["latest"]["strategy"] == "rollback" and status["latest"]["state"] == "released", status["latest"]


def test_ctrl_c_stops_the_train_with_traffic_back_on_stable_and_resume_finishes_it(sandbox):
    """SIGINT while web's canary serves: exit 130 within a GitHub runner's 7.5 s, web all on its
    stable color, api (wave 1) left released; `train resume` continues web's own release."""
    for service in ("api", "web"):
        ready(sandbox, service, live(sandbox, service))
    web_stable = live(sandbox, "web")

    def web_weights() -> dict:
        code, status, err = run(sandbox, "status", "web")
        assert code == 0, err
        return {c: v["weight"] or 0 for c, v in status["colors"].items()}

    command = [sys.executable, "-m", "deployer", "-o", "json", "train", "release", "pair",
               *images(api="example/api:9", web="example/web:9"), "--poll", "1s"]
    with Traffic(sandbox, "api", rps=60), Traffic(sandbox, "web", rps=150):
        proc = subprocess.Popen(command, env={**os.environ, **sandbox.env()}, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            serving = wait_until(lambda: proc.poll() is None and sum(w for c, w in web_weights().items() if c != web_stable) > 0,
                                 timeout=180, every=0.5)
        finally:
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
            stopped = time.monotonic() - sent
        assert serving, err[-2000:]
        assert proc.returncode == 130, err[-2000:]
        assert stopped < 7.5, f"{stopped:.1f} s from SIGINT to exit"
        assert web_weights()[web_stable] == 100
        report = json.loads(out)
        assert report["result"] == "interrupted" and report["exit_code"] == 130
        assert report["members"]["api"]["state"] == "released" and report["members"]["web"]["state"] == "stopped", report["members"]
        web_release = report["members"]["web"]["release_id"]

        code, resumed, err = run(sandbox, "train", "resume", "pair", "--poll", "1s", timeout=240)
    assert code == 0, err
    assert resumed["result"] == "released" and resumed["id"] == report["id"]
    assert resumed["members"]["web"]["state"] == "released" and resumed["members"]["web"]["release_id"] == web_release
    assert live(sandbox, "web") != web_stable


def test_a_bad_member_halts_the_train_and_the_first_wave_is_rolled_back(sandbox):
    """The halt and the rollback of other members of the failing wave are unit tests (tests/unit/test_train.py)."""
    for service in ("api", "web"):
        ready(sandbox, service, live(sandbox, service))
    api_live = live(sandbox, "api")
    with Traffic(sandbox, "api", rps=60), Traffic(sandbox, "web", rps=150):
        code, report, err = run(sandbox, "train", "release", "pair", *images(api="example/api:6", web="example/web:3"),
                                "--poll", "1s", timeout=300)
    assert code == 3, err
    assert report["result"] == "rolled_back" and report["reason"].startswith("web: error_rate_above"), report["reason"]
    members = report["members"]
    assert members["web"]["state"] == "failed" and members["api"]["state"] == "rolled_back", members
    assert live(sandbox, "api") == api_live  # back on the version that served before the train
    assert "train pair halted by web: error_rate_above" in err
