"""The command line end to end (in process): exit codes, one-line errors, json output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deployer.cli import main
from tests.conftest import EXAMPLES

SPEC = str(EXAMPLES / "deployer.yaml")


def cfn_lint(files: list[str]) -> subprocess.CompletedProcess:
    """cfn-lint's own command, from the environment the tests run in."""
    script = Path(sys.executable).with_name("cfn-lint")
    command = [str(script)] if script.exists() else [shutil.which("cfn-lint") or "cfn-lint"]
    return subprocess.run([*command, *files], capture_output=True, text=True, timeout=300)


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([*args])
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return info.value.code or 0, out, err


def test_validate_ok(capsys):
    code, out, err = run(capsys, "-c", SPEC, "validate")
    assert code == 0
    assert out.strip().splitlines()[-2].endswith(
        "5 service(s) valid: web (canary), api (bluegreen), worker-web (rolling), checkout (canary, engine ecs), "
        "orders (canary, engine ecs)")
    assert out.strip().splitlines()[-1] == "1 train(s): storefront (api -> web, worker-web)"


def test_validate_bad_spec_exit_2_one_line_per_problem(capsys, tmp_path):
    bad = tmp_path / "deployer.yaml"
    bad.write_text((EXAMPLES / "deployer.yaml").read_text().replace("strategy: canary", "strategy: yolo", 1).replace("strategy: bluegreen\n      bake: 10s", "strategy: bluegreen\n      bake: never"))
    code, out, err = run(capsys, "-c", str(bad), "validate")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines == [
        f"error: {bad}:45: services.web.release.strategy: expected 'rolling', 'canary', 'bluegreen' or 'linear' (got 'yolo')",
        f"{bad}:71: services.api.release.bake: expected a duration such as 30s, 2m or 1h30m (got 'never')",
    ]
    assert "Traceback" not in err


def test_missing_file_and_unknown_service(capsys, tmp_path):
    code, _, err = run(capsys, "-c", str(tmp_path / "nope.yaml"), "validate")
    assert code == 2 and f"error: {tmp_path / 'nope.yaml'}: file not found" in err
    code, _, err = run(capsys, "-c", SPEC, "synth", "shop", "-d", str(tmp_path))
    assert code == 2 and "error: no service 'shop' (services: api, checkout, orders, web, worker-web)" in err


def test_bad_flag_is_usage_error(capsys):
    code, _, err = run(capsys, "-c", SPEC, "synth", "--format", "xml")
    assert code == 2 and "Invalid value for '--format'" in err


def test_json_output_for_machines(capsys):
    code, out, _ = run(capsys, "-c", SPEC, "-o", "json", "validate")
    assert code == 0 and json.loads(out) == {"result": "valid", "file": SPEC, "services": ["web", "api", "worker-web", "checkout", "orders"],
                                                 "trains": {"storefront": [["api"], ["web", "worker-web"]]}}


def test_schema_is_json_schema(capsys):
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0 and schema["title"] == "deployer.yaml" and "Service" in schema["$defs"]


def test_synth_writes_templates_that_cfn_lint_accepts(capsys, tmp_path):
    code, out, _ = run(capsys, "-c", SPEC, "synth", "-d", str(tmp_path))
    files = out.split()
    assert code == 0 and sorted(p.rsplit("/", 1)[1] for p in files) == sorted(
        ["bootstrap.template.json", "cluster-demo.template.json", "web.template.json", "api.template.json", "worker-web.template.json",
         "checkout.template.json", "orders.template.json", "judge.template.json"]
    )
    lint = cfn_lint(files)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout == ""


def test_synth_yaml_lints_clean(capsys, tmp_path):
    code, out, _ = run(capsys, "-c", SPEC, "synth", "web", "--format", "yaml", "-d", str(tmp_path))
    assert code == 0
    lint = cfn_lint(out.split())
    assert lint.returncode == 0, lint.stdout


def test_provision_without_region_is_a_config_error(capsys, monkeypatch):
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    code, _, err = run(capsys, "-c", SPEC, "provision", "web")
    assert code == 2
    assert err.splitlines() == ["error: no AWS region set", "hint: set AWS_REGION or pass --region"]


def test_provision_dry_run_against_moto(capsys, spec_path):
    code, out, err = run(capsys, "-c", str(spec_path), "provision", "worker-web", "--dry-run")
    assert code == 2 and "hint: run `deployer bootstrap` (once per account and region), then provision again" in err
    assert run(capsys, "-c", str(spec_path), "bootstrap")[0] == 0
    code, out, err = run(capsys, "-c", str(spec_path), "-o", "json", "provision", "worker-web", "--dry-run")
    assert code == 0, err
    report = json.loads(out)
    assert [s["action"] for s in report["stacks"]] == ["dry-run", "dry-run"]
    assert "deployer-worker-web: dry run, change set deleted, nothing changed" in err


def test_help_is_fast_because_imports_are_lazy():
    """`deployer --help` must not import boto3, pydantic, troposphere or the release engine (see benchmarks/cli_startup.py)."""
    heavy = "('boto3','pydantic','msgspec','troposphere','botocore','deployer.release.steps','deployer.release.strategies')"
    code = f"import sys; from deployer.cli import cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_validate_loads_no_aws_client_template_library_or_release_engine():
    """`deployer validate` reads the spec only: no boto3, troposphere, pydantic or planning code (benchmarks/synth_floor.py)."""
    heavy = "('boto3','botocore','troposphere','pydantic','typing_extensions','deployer.release.steps','deployer.release.plan')"
    code = (f"import sys; from deployer.cli import main; sys.argv = ['deployer', '-c', {str(EXAMPLES / 'deployer.yaml')!r}, 'validate']\n"
            f"try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {heavy} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_msgspec_is_loaded_without_typing_extensions_which_stays_importable():
    code = ("import sys; from deployer.spec import parse_config; import pydantic, typing_extensions\n"
            "from pydantic import BaseModel\n"
            "class A(BaseModel):\n    x: typing_extensions.Literal['a'] = 'a'\n"
            "print(A().x, sys.modules['msgspec']._utils._get_type_hints.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["a", "typing"], out.stderr


@pytest.mark.parametrize("args,message", [
    (("--kms-key", "nope"), "expected a KMS key ARN arn:aws:kms:REGION:ACCOUNT:key/ID, or '' for none"),
    (("--access-log-days", "0"), "0 is not in the range 1<=x<=3650"),
])
def test_bootstrap_options_are_checked_before_any_aws_call(capsys, args, message):
    code, out, err = run(capsys, "bootstrap", *args)
    assert code == 2 and out == "" and message in err and "Traceback" not in err


@pytest.mark.parametrize("args,line", [
    (("train", "release", "shop", "--image", "api=x:1"), f"error: no train shop in {SPEC} (trains: storefront)"),
    (("train", "release", "storefront", "--image", "api=example/api:2"),
     "error: train storefront needs an image for every member; missing: web, worker-web (--image web=IMAGE)"),
    (("train", "release", "storefront", "--image", "api=example/api:2", "--image", "web=", "--image", "worker-web=w:2"),
     "error: --image web=: expected SERVICE=IMAGE, e.g. web=registry/web:2"),
    (("train", "status", "shop"), f"error: no train shop in {SPEC} (trains: storefront)"),
    (("train", "resume", "shop"), f"error: no train shop in {SPEC} (trains: storefront)"),
    (("train", "rollback", "storefront", "--poll", "soon"), "error: --poll soon: expected a duration such as 30s, 2m or 1h30m (got 'soon')"),
])
def test_a_train_command_with_bad_input_is_one_line_and_exit_2_before_any_aws_call(capsys, args, line):
    code, _, err = run(capsys, "-c", SPEC, *args)
    assert code == 2 and err.splitlines()[0] == line, err


@pytest.mark.parametrize("text,line", [
    (None, "error: --images-file {path}: file not found"),
    ("- api\n- web\n", "error: --images-file {path}: expected a mapping of member to image, e.g. `web: registry/web:2`"),
    ("api: [x]\n", "error: --images-file {path}: api: expected `SERVICE: IMAGE` with both as text"),
    ("api: example/api:2\n",
     "error: train storefront needs an image for every member; missing: worker-web (--image worker-web=IMAGE)"),
    ("api: example/api:2\nweb: example/web:2\nworker-web: example/worker-web:2\n",
     "error: --image web=example/web:3: web has an image already (example/web:2)"),
    ("api: example/api:2\nweb: [\n", "error: {path}:3:1: not valid YAML"),
])
def test_a_trains_images_file_with_bad_input_is_one_line_and_exit_2(tmp_path, capsys, text, line):
    path = tmp_path / "images.yaml"
    if text is not None:
        path.write_text(text)
    code, _, err = run(capsys, "-c", SPEC, "train", "release", "storefront", "--images-file", str(path), "--image", "web=example/web:3")
    assert code == 2 and err.splitlines()[0].startswith(line.format(path=path)), err


def test_a_trains_images_file_gives_one_image_per_member(tmp_path):
    from deployer.cli.train_cmds import images_file_values
    from deployer.train.plan import parse_images

    path = tmp_path / "images.json"
    path.write_text('{"api": "example/api:2", "web": "example/web:2", "worker-web": "example/worker-web:2"}')
    images = parse_images(images_file_values(path), ["api", "web", "worker-web"], "storefront")
    assert images == {"api": "example/api:2", "web": "example/web:2", "worker-web": "example/worker-web:2"}
