"""The judge function's artifact: its size, and its cold start with and without bytecode, in one run.

Builds the zip as `deployer judge package` does, and a copy without its `__pycache__` entries (what
a read-only code directory makes every cold start compile). Each is unpacked and started N times in
a fresh `python -I -S -B` process (-B: nothing written, as in Lambda's read-only code directory)
with only the unpacked directory on sys.path, as Lambda (and the sandbox) start it: the time to
import the hook and the guard and make the seven clients they use (no request is sent). Prints sizes, the medians and the ratio between them.
Run: .venv/bin/python benchmarks/judge_cold_start.py [N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deployer.judge.package import package  # noqa: E402

START = """
import sys, time
t = time.perf_counter()
import deployer.judge.hook, deployer.judge.guard
import boto3
session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
for name in ("dynamodb", "cloudformation", "cloudwatch", "elbv2", "route53", "ecs", "sts"):
    session.client(name, endpoint_url="http://127.0.0.1:9")
print(time.perf_counter() - t)
"""


def starts(directory: Path, n: int) -> list[float]:
    out = []
    for _ in range(n):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-B", "-c", f"import sys; sys.path[:0] = [{str(directory)!r}]\n{START}"],
                       check=True, capture_output=True, cwd=directory)
        out.append(time.perf_counter() - began)
    return out


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        built = package(work / "judge.zip")
        bare = work / "bare.zip"
        with zipfile.ZipFile(built.path) as src, zipfile.ZipFile(bare, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                if "__pycache__" not in info.filename:
                    dst.writestr(info, src.read(info))
        timings = {}
        for label, archive in (("with bytecode", built.path), ("source only", bare)):
            directory = work / label.replace(" ", "-")
            with zipfile.ZipFile(archive) as z:
                z.extractall(directory)
            timings[label] = starts(directory, n)
            unzipped = sum(i.file_size for i in zipfile.ZipFile(archive).infolist())
            print(f"{label:<14} {archive.stat().st_size / 1e6:5.2f} MB zipped, {unzipped / 1e6:5.2f} MB unzipped; "
                  f"cold start (process, imports, 7 clients) median {statistics.median(timings[label]):.3f}s "
                  f"min {min(timings[label]):.3f}s max {max(timings[label]):.3f}s over {n}")
        ratio = statistics.median(timings["source only"]) / statistics.median(timings["with bytecode"])
        print(f"source only / with bytecode: {ratio:.2f}x; runtime {built.runtime} on {built.architecture}; "
              f"{len(built.distributions)} distributions")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
