"""Flags of the release commands get the spec's own checks (issue 15): one line, exit 2, no traceback.

The flags are checked before any AWS call, so these run against examples/deployer.yaml alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.test_cli import SPEC, run

IMAGE = ("expected an image [registry[:port]/]name[:tag][@digest]: lowercase name, at most 255 characters, "
         "no spaces or control characters (got {})")


@pytest.mark.parametrize("args,message", [
    (("--image", "x:1", "--max-5xx-rate", "nan"), "--max-5xx-rate nan: expected a finite number (got nan)"),
    (("--image", "x:1", "--max-5xx-rate", "NaN"), "--max-5xx-rate nan: expected a finite number (got nan)"),
    (("--image", "x:1", "--max-p99-ms", "99999999999"), "--max-p99-ms 99999999999: expected less than or equal to 600000 (got 99999999999)"),
    (("--image", ""), "--image '': " + IMAGE.format("''")),
    (("--image", "example/web:2 --force"), "--image 'example/web:2 --force': " + IMAGE.format("'example/web:2 --force'")),
    (("--image", "example/web:2\nINJECTED"), "--image 'example/web:2\\nINJECTED': " + IMAGE.format("'example/web:2\\nINJECTED'")),
    (("--image", "example/web:2\x1b[31m"), "--image 'example/web:2\\x1b[31m': " + IMAGE.format("'example/web:2\\x1b[31m'")),
    (("--image", "a" * 5000), f"--image '{'a' * 55}...': " + IMAGE.format("5000 characters")),
    (("--image", "x:1", "--bake", "99999999999"), "--bake 99999999999: expected less than or equal to 86400 (got '99999999999')"),
    (("--image", "x:1", "--bake", "1h99m"), "--bake 1h99m: expected minutes and seconds 0..59 after a larger unit (got '1h99m'; did you mean 2h39m?)"),
    (("--image", "x:1", "--bake", "nan"), "--bake nan: expected a duration such as 30s, 2m or 1h30m (got 'nan')"),
    (("--image", "x:1", "--poll", "0"), "--poll 0: expected greater than or equal to 1 (got '0')"),
    (("--image", "x:1", "--poll", "1h"), "--poll 1h: expected less than or equal to 300 (got '1h')"),
    (("--image", "x:1", "--steps", "10,100,pause"), "--steps 10,100,pause: a pause after 100 waits for nothing: the release is complete at 100%; pause after an earlier weight"),
    (("--image", "x:1", "--steps", "10,pause,pause,100"), "--steps 10,pause,pause,100: two pauses in a row; one waits for promote"),
    (("--image", "x:1", "--steps", "10,²,100"), "--steps 10,²,100: expected a weight 1..100 or 'pause' (got '²')"),
    (("--image", "x:1", "--steps", "10," + "9" * 5000 + ",100"), "--steps '10," + "9" * 52 + "...': expected a weight 1..100 or 'pause' (got '" + "9" * 55 + "...')"),
])
def test_bad_release_flags_give_one_line_and_exit_2(capsys, args, message):
    code, out, err = run(capsys, "-c", SPEC, "release", "web", *args)
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"error: {message}"]


@pytest.mark.parametrize("command", ["resume", "rollback"])
def test_poll_is_bounded_for_resume_and_rollback(capsys, command):
    code, out, err = run(capsys, "-c", SPEC, command, "web", "--poll", "99999999999")
    assert (code, out) == (2, "")
    assert err.splitlines() == ["error: --poll 99999999999: expected less than or equal to 300 (got '99999999999')"]


def test_gate_limit_flags_are_checked_by_the_spec_model():
    from deployer.cli.release_cmds import with_gate_limits
    from deployer.errors import UsageError
    from deployer.spec import load_service

    web = load_service(SPEC, "web")
    with pytest.raises(UsageError) as info:
        with_gate_limits(web, float("nan"), None)
    assert info.value.message == "--max-5xx-rate nan: expected a finite number (got nan)"
    with pytest.raises(UsageError):
        with_gate_limits(web, None, 10**12)
    assert with_gate_limits(web, 1.5, 250).release.gates.max_5xx_rate == 1.5


def _bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("edit,message", [
    (lambda t: t.replace("  # Blue/green", "  web:\n    image: example/web:9\n  # Blue/green", 1),
     "{f}:56: services.web: duplicate key (first at line 31); a key may appear once, a second one would silently replace the first"),
    (lambda t: _bomb() + t, "{f}:5: e: aliases expand to more than 10,000 values; write the values out or share them with `defaults:`"),
    (lambda t: t.replace("bake: 10s", "bake: .inf", 1),
     "{f}:47: services.web.release.bake: expected a finite number (got inf)"),
    (lambda t: t.replace("bake: 10s", "bake: 1.0e+400", 1),
     "{f}:47: services.web.release.bake: expected a finite number (got inf)"),
    (lambda t: "x: " + "[" * 20000 + "]" * 20000 + "\n" + t, None),
])
def test_bad_spec_files_give_one_line_and_exit_2(capsys, tmp_path, edit, message):
    path = tmp_path / "deployer.yaml"
    path.write_text(edit(Path(SPEC).read_text()))
    code, out, err = run(capsys, "-c", str(path), "validate")
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    if message:
        assert lines == ["error: " + message.format(f=path)]
    else:
        assert lines[0].startswith(f"error: {path}:1: x[0][0]") and lines[0].endswith("nested deeper than 64 levels")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_config_from_dev_zero_stops_at_the_cap(capsys):
    code, out, err = run(capsys, "-c", "/dev/zero", "validate")
    assert (code, out) == (2, "")
    assert err.splitlines() == ["error: /dev/zero: larger than 1 MiB, the limit for a configuration file (is it the right file?)"]


@pytest.mark.parametrize("command,extra", [("release", ("--image", "x:1")), ("resume", ()), ("rollback", ())])
@pytest.mark.parametrize("value,message", [
    ("20m", "--wait-for-lock 20m: expected 0s..15m"),
    ("soon", "--wait-for-lock soon: expected a duration such as 30s, 2m or 1h30m (got 'soon')"),
])
def test_wait_for_lock_is_bounded(capsys, command, extra, value, message):
    code, out, err = run(capsys, "-c", SPEC, command, "web", *extra, "--wait-for-lock", value)
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"error: {message}"]
