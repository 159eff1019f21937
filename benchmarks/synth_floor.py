"""synth and validate against their floors, whole processes, measured in one run.

The floor for synth is a troposphere script of the same shape written by hand: the same resources,
properties, parameters, conditions and outputs built from troposphere's classes (and intrinsic
helpers such as Ref and GetAtt) with literal values, then written with `to_json`. The script is
generated here from deployer's own output, so it is exactly the same shape; the run checks that it
writes the same templates. The floor for validate is `python -c "import boto3"`.

Both sides run from bytecode, as an installed package does: deployer's package and the generated
script are compiled before timing (this machine sets PYTHONDONTWRITEBYTECODE, so nothing would be
cached otherwise, and a script run as __main__ is never cached); the script is imported by a
one-line runner.

Targets (issue 10): synth of one service and of 20 services each <= 1.5x its floor; validate
<= 0.6x of importing boto3. Prints every figure and ratio; exits 1 when a target is missed.
Run: .venv/bin/python benchmarks/synth_floor.py [runs]
"""

from __future__ import annotations

import compileall
import importlib
import importlib.util
import json
import py_compile
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "deployer.yaml"
TARGETS = {"synth, 1 service": 1.5, "synth, 20 services": 1.5, "validate": 0.6}

INTRINSICS = {  # CloudFormation's function -> troposphere's helper
    "Ref": "Ref", "Fn::GetAtt": "GetAtt", "Fn::Sub": "Sub", "Fn::Join": "Join", "Fn::If": "If",
    "Fn::Equals": "Equals", "Fn::Not": "Not", "Fn::And": "And", "Fn::Or": "Or", "Fn::ImportValue": "ImportValue",
    "Fn::Select": "Select", "Fn::Split": "Split", "Fn::FindInMap": "FindInMap", "Fn::GetAZs": "GetAZs",
    "Fn::Base64": "Base64", "Condition": "Condition",
}
SPREAD = {"GetAtt", "Join", "If", "Equals", "And", "Or", "Select", "Split", "FindInMap", "Not"}  # list arguments spread


def twenty_services_spec(path: Path) -> None:
    """The example's `web`, twenty times over, each with its own name and DNS record (no clash)."""
    spec = yaml.safe_load(EXAMPLE.read_text())
    web = spec["services"]["web"]
    spec["services"] = {}
    spec.pop("trains", None)  # its members are the example's services, not these
    for i in range(1, 21):
        name = f"web{i:02d}"
        spec["services"][name] = {**web, "dns": {**web["dns"], "record": f"{name}.example.com"},
                                  "environment": {"APP_NAME": name}}
    class WrittenOut(yaml.SafeDumper):  # each service in full, as people write them (no anchors)
        def ignore_aliases(self, data):
            return True

    path.write_text(yaml.dump(spec, Dumper=WrittenOut, sort_keys=False))


class ScriptWriter:
    """Python source that builds given templates with troposphere's classes, as a person would write it."""

    def __init__(self) -> None:
        self.modules: set[str] = set()
        self._classes: dict[str, tuple[str, type]] = {}

    def resource_class(self, resource_type: str) -> tuple[str, type]:
        if resource_type not in self._classes:
            service = resource_type.split("::")[1].lower()
            for module_name in (service, f"aws{service}"):
                try:
                    module = importlib.import_module(f"troposphere.{module_name}")
                except ImportError:
                    continue
                for attr in vars(module).values():
                    if isinstance(attr, type) and getattr(attr, "resource_type", None) == resource_type:
                        self._classes[resource_type] = (f"{module_name}.{attr.__name__}", attr)
                        self.modules.add(module_name)
            if resource_type not in self._classes:
                raise SystemExit(f"no troposphere class for {resource_type}")
        return self._classes[resource_type]

    def value(self, value, prop_type=None) -> str:
        """Source for a value; dicts typed as a troposphere property class become that class's constructor."""
        if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in INTRINSICS:
            (fn, args), = value.items()
            helper = INTRINSICS[fn]
            if helper in SPREAD and isinstance(args, list):
                return f"{helper}({', '.join(self.value(a) for a in args)})"
            if helper == "Sub" and isinstance(args, list):
                return f"Sub({self.value(args[0])}, {self.value(args[1])})"
            return f"{helper}({self.value(args)})"
        if isinstance(prop_type, list) and isinstance(value, list):
            return "[" + ", ".join(self.value(v, prop_type[0]) for v in value) + "]"
        if isinstance(value, dict) and isinstance(prop_type, type) and hasattr(prop_type, "props") and prop_type.__name__ != "Tags":
            return self.construct(f"{prop_type.__module__.split('.')[-1]}.{prop_type.__name__}", prop_type, None, value)
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k!r}: {self.value(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.value(v) for v in value) + "]"
        return repr(value)

    def construct(self, name: str, cls: type, title: str | None, props: dict, extra: dict | None = None) -> str:
        self.modules.add(cls.__module__.split(".")[-1])
        args = [repr(title)] if title else []
        for key, val in props.items():
            prop_type = cls.props[key][0] if key in cls.props else None
            if getattr(prop_type, "__name__", "") == "Tags" and isinstance(val, list):
                args.append(f"{key}=Tags(" + ", ".join(f"{t['Key']}={self.value(t['Value'])}" for t in val) + ")")
            else:
                args.append(f"{key}={self.value(val, prop_type)}")
        args += [f"{key}={self.value(val)}" for key, val in (extra or {}).items()]
        return f"{name}({', '.join(args)})"

    def template(self, variable: str, body: dict) -> list[str]:
        lines = [f"{variable} = Template()"]
        if "Description" in body:
            lines.append(f"{variable}.set_description({body['Description']!r})")
        if "Metadata" in body:
            lines.append(f"{variable}.set_metadata({self.value(body['Metadata'])})")
        for name, mapping in body.get("Mappings", {}).items():
            lines.append(f"{variable}.add_mapping({name!r}, {mapping!r})")
        for name, props in body.get("Parameters", {}).items():
            lines.append(f"{variable}.add_parameter(Parameter({name!r}, " + ", ".join(f"{k}={self.value(v)}" for k, v in props.items()) + "))")
        for name, expr in body.get("Conditions", {}).items():
            lines.append(f"{variable}.add_condition({name!r}, {self.value(expr)})")
        for name, resource in body.get("Resources", {}).items():
            ref, cls = self.resource_class(resource["Type"])
            extra = {k: v for k, v in resource.items() if k not in ("Type", "Properties")}
            lines.append(f"{variable}.add_resource({self.construct(ref, cls, name, resource.get('Properties', {}), extra)})")
        for name, output in body.get("Outputs", {}).items():
            fields = ", ".join(f"{k}=Export({self.value(v['Name'])})" if k == "Export" else f"{k}={self.value(v)}" for k, v in output.items())
            lines.append(f"{variable}.add_output(Output({name!r}, {fields}))")
        return lines

    def script(self, templates: dict[str, dict]) -> str:
        body: list[str] = []
        for i, (stem, template) in enumerate(templates.items()):
            body += self.template(f"t{i}", template)
            body.append(f"(OUT / {stem + '.template.json'!r}).write_text(t{i}.to_json(indent=2) + '\\n')")
        head = ["import sys", "from pathlib import Path",
                "from troposphere import " + ", ".join(sorted({*INTRINSICS.values(), "Template", "Parameter", "Output", "Export", "Tags"})),
                *(f"from troposphere import {m}" for m in sorted(self.modules)),
                "OUT = Path(sys.argv[1])"]
        return "\n".join(head + body) + "\n"


def median_s(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def paired(ours: list[str], floor: list[str], runs: int) -> tuple[float, float]:
    """Medians of runs taken in turns, so both see the same machine."""
    a, b = [], []
    for _ in range(runs):
        a.append(median_s(ours, 1))
        b.append(median_s(floor, 1))
    return statistics.median(a), statistics.median(b)


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    exe = Path(sys.executable)
    deployer = str(exe.with_name("deployer")) if exe.with_name("deployer").exists() else shutil.which("deployer")
    import deployer as package

    compileall.compile_dir(str(Path(package.__file__).parent), quiet=1)  # as pip does on install
    work = Path(tempfile.mkdtemp(prefix="synth-floor-"))
    try:
        twenty = work / "twenty.yaml"
        twenty_services_spec(twenty)
        cases = {"synth, 1 service": (EXAMPLE, ["web"]), "synth, 20 services": (twenty, [])}
        results: dict[str, tuple[float, float, str]] = {}
        for label, (spec, services) in cases.items():
            ours_dir, hand_dir = work / f"{label}-ours", work / f"{label}-hand"
            ours = [deployer, "-c", str(spec), "synth", *services, "-d", str(ours_dir)]
            subprocess.run(ours, stdout=subprocess.DEVNULL, check=True)
            written = {p.name.removesuffix(".template.json"): json.loads(p.read_text()) for p in sorted(ours_dir.glob("*.json"))}
            script = work / f"by_hand_{label.split(',')[1].strip().replace(' ', '_')}.py"
            script.write_text(ScriptWriter().script(written))
            py_compile.compile(str(script), cfile=importlib.util.cache_from_source(str(script)), doraise=True)
            hand = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(work)!r}); sys.argv[1:] = [{str(hand_dir)!r}]; "
                    f"import {script.stem}"]
            hand_dir.mkdir()
            subprocess.run(hand, check=True)
            same = all(json.loads((hand_dir / p.name).read_text()) == json.loads(p.read_text()) for p in ours_dir.glob("*.json"))
            if not same:
                raise SystemExit(f"{label}: the hand-written script does not write the same templates ({script})")
            ours_s, hand_s = paired(ours, hand, runs)
            results[label] = (ours_s, hand_s, f"troposphere by hand ({len(written)} templates, same output)")
        ours_s, boto3_s = paired([deployer, "-c", str(EXAMPLE), "validate"], [sys.executable, "-c", "import boto3"], runs)
        results["validate"] = (ours_s, boto3_s, "python -c 'import boto3'")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"synth and validate against their floors, whole processes, median of {runs} paired runs")
    missed = []
    for label, (ours_s, floor_s, reference) in results.items():
        ratio = ours_s / floor_s
        ok = ratio <= TARGETS[label]
        missed += [] if ok else [label]
        print(f"  {label:<20} deployer {ours_s * 1000:6.0f} ms   {reference}: {floor_s * 1000:6.0f} ms   "
              f"x{ratio:4.2f} (target <= {TARGETS[label]}x){'' if ok else '  MISSED'}")
    print("ratios: " + " ".join(f"{label.replace(', ', '_').replace(' ', '_')}={r[0] / r[1]:.2f}" for label, r in results.items()))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
