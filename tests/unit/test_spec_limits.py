"""Input limits of the spec reader (issue 15): every bad input is one line (file, line, field path,
what was expected) and exit code 2, never a traceback, a hang or a silently changed value."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from deployer.errors import ConfigError
from deployer.spec import load_config, parse_config
from deployer.spec.safe_yaml import MAX_ALIAS_NODES, MAX_BYTES, MAX_DEPTH, MAX_NODES
from deployer.spec.units import parse_duration

from tests.unit.test_spec import MINIMAL as _MINIMAL
from tests.unit.test_spec import problems

MINIMAL = _MINIMAL.lstrip("\n")  # line numbers below count from the first line of the service


# --- the YAML reader -------------------------------------------------------------------------


def test_duplicate_service_key_names_both_lines(example_text):
    text = example_text.replace("  # Blue/green", "  web:\n    image: example/web:9\n  # Blue/green", 1)
    assert problems(text) == [
        "deployer.yaml:56: services.web: duplicate key (first at line 31); a key may appear once, a second one would silently replace the first"
    ]


def test_duplicate_nested_key_is_refused():
    found = problems(MINIMAL + "    desired_count: 2\n    desired_count: 3\n")
    assert found == ["deployer.yaml:8: services.web.desired_count: duplicate key (first at line 7); "
                     "a key may appear once, a second one would silently replace the first"]


def test_billion_laughs_is_refused_at_once():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    started = time.monotonic()
    found = problems("\n".join(lines) + "\n" + MINIMAL)
    assert time.monotonic() - started < 2
    assert found == [f"deployer.yaml:5: e: aliases expand to more than {MAX_ALIAS_NODES:,} values; "
                     "write the values out or share them with `defaults:`"]


def test_recursive_alias_is_refused():
    assert problems("a: &a [*a]\n" + MINIMAL) == ["deployer.yaml:1: a: alias *a is inside its own anchor (a recursive structure)"]


def test_aliases_and_merge_keys_within_the_budget_still_work():
    text = MINIMAL.replace("  web:\n", "  web: &base\n") + "  api:\n    <<: *base\n    image: example/api:1\n    desired_count: 3\n"
    config = parse_config(text)
    assert config.services["api"].image == "example/api:1" and config.services["api"].cluster == "demo"
    assert config.services["api"].desired_count == 3 and config.services["web"].desired_count == 2


def test_deep_nesting_is_refused_without_recursion_error():
    depth = 20_000
    found = problems("a: " + "[" * depth + "]" * depth + "\n" + MINIMAL)
    assert len(found) == 1 and found[0].startswith("deployer.yaml:1: a[0][0]")
    assert found[0].endswith(f": nested deeper than {MAX_DEPTH} levels")


def test_nesting_up_to_the_limit_is_only_a_field_error():
    found = problems(MINIMAL + "    environment: " + "[" * (MAX_DEPTH - 3) + "]" * (MAX_DEPTH - 3) + "\n")
    assert found == ["deployer.yaml:7: services.web.environment: expected a mapping"]


def test_too_many_values_is_refused():
    found = problems("a: [" + "1," * MAX_NODES + "1]\n" + MINIMAL)
    assert found == [f"deployer.yaml:1: more than {MAX_NODES:,} values in one file (a deployer.yaml has a few hundred)"]


def test_large_file_is_refused_reading_at_most_the_cap(tmp_path):
    path = tmp_path / "deployer.yaml"
    with open(path, "wb") as f:
        f.write(MINIMAL.encode())
        f.seek(50 * 1024 * 1024)  # 50 MB, sparse
        f.write(b"\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: larger than 1 MiB, the limit for a configuration file (is it the right file?)"]
    assert problems(MINIMAL + "#" * MAX_BYTES) == ["deployer.yaml: larger than 1 MiB, the limit for a configuration file (is it the right file?)"]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_stops_at_the_cap():
    with pytest.raises(ConfigError) as info:
        load_config("/dev/zero")
    assert info.value.problems == ["/dev/zero: larger than 1 MiB, the limit for a configuration file (is it the right file?)"]


@pytest.mark.parametrize("value,expected", [
    ("9" * 5000, "deployer.yaml:7:20: not valid YAML: cannot read this value: Exceeds the limit (4300 digits) for integer string conversion"),
    ("2024-13-45", "deployer.yaml:7:20: not valid YAML: cannot read this value: month must be in 1..12"),
])
def test_values_python_cannot_read_give_one_line(value, expected):
    found = problems(MINIMAL + f"    desired_count: {value}\n")
    assert len(found) == 1 and found[0].startswith(expected), found


def test_control_character_and_bad_encoding(tmp_path):
    assert problems(MINIMAL + "    image: \x07\n") == ["deployer.yaml:7: not valid YAML: unacceptable character #x0007: special characters are not allowed"]
    path = tmp_path / "deployer.yaml"
    path.write_bytes(MINIMAL.encode() + b"    image: \xff\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}:7: cannot read: not UTF-8 text (byte 0xff)"]


def test_hooks_file_uses_the_same_reader(tmp_path):
    from deployer.ci.hooks_config import load_hooks

    path = tmp_path / "hooks.yaml"
    path.write_text("releases:\n  - service: web\n    image: example/web:{tag}\n    image: example/other:{tag}\n")
    with pytest.raises(ConfigError) as info:
        load_hooks(path)
    assert info.value.problems == [f"{path}:4: releases[0].image: duplicate key (first at line 3); "
                                   "a key may appear once, a second one would silently replace the first"]


# --- numbers: NaN and infinities --------------------------------------------------------------


@pytest.mark.parametrize("field,value,expected", [
    ("bake", ".inf", "services.web.release.bake: expected a finite number (got inf)"),
    ("bake", "1.0e+400", "services.web.release.bake: expected a finite number (got inf)"),
    ("bake", ".nan", "services.web.release.bake: expected a finite number (got nan)"),
    ("gates", "{max_5xx_rate: .nan}", "services.web.release.gates.max_5xx_rate: expected a finite number (got nan)"),
    ("gates", "{margin: .inf}", "services.web.release.gates.margin: expected a finite number (got inf)"),
    ("gates", "{confidence: .nan}", "services.web.release.gates.confidence: expected a finite number (got nan)"),
    ("gates", "{max_p99_ms: .inf}", "services.web.release.gates.max_p99_ms: expected a finite number (got inf)"),
])
def test_nan_and_infinity_are_refused_in_the_spec(field, value, expected):
    found = problems(MINIMAL + f"    release: {{{field}: {value}}}\n")
    assert found == [f"deployer.yaml:7: {expected}"]


@pytest.mark.parametrize("where,text", [
    ("services.web.release.gates.metrics[0].limit", "    release: {gates: {metrics: [{name: m, namespace: N, metric: M, "
                                                     "dimensions: {S: '{service}'}, kind: value, limit: .nan}]}}\n"),
    ("services.web.desired_count", "    desired_count: -.inf\n"),
    ("services.web.alarms.p99_ms", "    alarms: {p99_ms: .inf}\n"),
])
def test_no_number_anywhere_accepts_nan_or_infinity(where, text):
    """The reader refuses a non-finite number wherever it is, even in a float field without bounds."""
    found = problems(MINIMAL + text)
    assert len(found) == 1 and f": {where}: expected a finite number (got " in found[0], found


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value,message", [
    ("1h99m", "expected minutes and seconds 0..59 after a larger unit (got '1h99m'; did you mean 2h39m?)"),
    ("1m60s", "expected minutes and seconds 0..59 after a larger unit (got '1m60s'; did you mean 2m?)"),
    ("1h90s", "expected minutes and seconds 0..59 after a larger unit (got '1h90s'; did you mean 1h1m30s?)"),
    (1.5, "expected whole seconds, e.g. 90 or 1m30s (got 1.5)"),
    (math.nan, "expected a duration such as 30s, 2m or 1h30m, a finite number of seconds (got nan)"),
    ("²", "expected a duration such as 30s, 2m or 1h30m (got '²')"),
    ("9" * 5000, "expected a duration such as 30s, 2m or 1h30m (got '999999999999999999999999999999999999'...)"),
    (None, "expected a duration such as 30s, 2m or 1h30m (got nothing)"),
])
def test_durations_are_whole_seconds_in_canonical_form(value, message):
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert str(info.value) == message


@pytest.mark.parametrize("value,seconds", [("99m", 5940), ("90s", 90), ("1h59m59s", 7199), (2.0, 2), ("0", 0)])
def test_single_unit_and_whole_float_durations_still_work(value, seconds):
    assert parse_duration(value) == seconds


def test_fractional_bake_in_the_spec_is_refused():
    assert problems(MINIMAL + "    release: {bake: 1.5}\n") == ["deployer.yaml:7: services.web.release.bake: expected whole seconds, e.g. 90 or 1m30s (got 1.5)"]


# --- steps and upper bounds --------------------------------------------------------------------


@pytest.mark.parametrize("steps,message", [
    ("[10, 100, pause]", "a pause after 100 waits for nothing: the release is complete at 100%; pause after an earlier weight"),
    ("[10, pause, pause, 100]", "two pauses in a row; one waits for promote"),
    ("[" + ", ".join(["10", "pause"] * 30) + ", 100]", "expected at most 50 items"),
])
def test_steps_rules(steps, message):
    found = problems(MINIMAL + f"    release: {{strategy: canary, steps: {steps}}}\n")
    assert found == [f"deployer.yaml:7: services.web.release.steps: {message}"]


@pytest.mark.parametrize("body,expected", [
    ("release: {gates: {max_inconclusive: 1000000000000}}", "7: services.web.release.gates.max_inconclusive: expected less than or equal to 100 (got 1000000000000)"),
    ("release: {gates: {min_requests: 1000000000}}", "7: services.web.release.gates.min_requests: expected less than or equal to 1000000 (got 1000000000)"),
    ("release: {gates: {max_p99_ms: 99999999999}}", "7: services.web.release.gates.max_p99_ms: expected less than or equal to 600000 (got 99999999999)"),
    ("release: {gates: {p99_min_delta_ms: 99999999999}}", "7: services.web.release.gates.p99_min_delta_ms: expected less than or equal to 600000 (got 99999999999)"),
    ("alarms: {target_5xx_count: 99999999999}", "7: services.web.alarms.target_5xx_count: expected less than or equal to 1000000 (got 99999999999)"),
    ("alarms: {period: 99999999h}", "7: services.web.alarms.period: expected less than or equal to 86400 (got '99999999h')"),
    ("alarms: {period: 24h, evaluation_periods: 2}", "7: services.web.alarms: period x evaluation_periods must be at most one day (86400 s), as CloudWatch requires"),
    ("desired_count: 100000", "7: services.web.desired_count: expected less than or equal to 1000 (got 100000)"),
    ("launch_type: EC2\n    cpu: 99999999", "8: services.web.cpu: expected less than or equal to 196608 (got 99999999)"),
    ("launch_type: EC2\n    memory: 99999999", "8: services.web.memory: expected less than or equal to 1048576 (got 99999999)"),
])
def test_counters_have_upper_bounds(body, expected):
    assert f"deployer.yaml:{expected}" in problems(MINIMAL + f"    {body}\n")


# --- image references --------------------------------------------------------------------------

IMAGE_ERROR = ("expected an image [registry[:port]/]name[:tag][@digest]: lowercase name, at most 255 characters, "
               "no spaces or control characters (got {})")


@pytest.mark.parametrize("image,got", [
    ("''", "''"),
    ("'example/web:1 x'", "'example/web:1 x'"),
    ('"example/web:1\\t"', "'example/web:1\\t'"),
    ('"example/web:1\\n"', "'example/web:1\\n'"),
    ("Example/Web:1", "'Example/Web:1'"),
    ("'example/web:'", "'example/web:'"),
    ("example/web@sha256:abc", "'example/web@sha256:abc'"),
    ("a" * 5000, "5000 characters"),
])
def test_bad_images_are_refused(image, got):
    found = problems(MINIMAL.replace("image: example/web:1", f"image: {image}"))
    assert found == ["deployer.yaml:4: services.web.image: " + IMAGE_ERROR.format(got)]


@pytest.mark.parametrize("image", [
    "web", "example/web:1", "registry.example.com:5000/team/web:1.2.3", "localhost:5000/web",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:" + "a" * 64, "ghcr.io/org/web:v1_2-rc.3",
    "public.ecr.aws/nginx/nginx:1.25-alpine@sha256:" + "0" * 64, "a" * 255,
])
def test_good_images_are_accepted(image):
    assert parse_config(MINIMAL.replace("image: example/web:1", f"image: {image}")).services["web"].image == image


def test_libyaml_fast_path_reads_the_example_as_the_checked_reader_does(example_text):
    from deployer.spec.safe_yaml import _load_checked, _load_plain_with_libyaml

    fast = _load_plain_with_libyaml(example_text)
    assert fast is not None, "the example (no anchors, within the limits) takes the libyaml path"
    data, root = fast
    checked_data, checked_root = _load_checked(example_text, "deployer.yaml")
    assert data == checked_data
    assert [(k.value, k.start_mark.line) for k, _ in root.value] == [(k.value, k.start_mark.line) for k, _ in checked_root.value]


@pytest.mark.parametrize("text", [
    "a: 1\na: 2\n",  # a duplicate key
    "a: &x [1]\nb: *x\n",  # anchors and aliases
    "a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n",  # too deep
    "a: [" + "1," * MAX_NODES + "1]\n",  # too many values
    "a: 2024-13-45\n",  # a value Python cannot read
    "a: [\n",  # not YAML
])
def test_anything_unusual_leaves_the_fast_path_for_the_checked_reader(text):
    from deployer.spec.safe_yaml import _load_plain_with_libyaml

    assert _load_plain_with_libyaml(text) is None
