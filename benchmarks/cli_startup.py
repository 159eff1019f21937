"""How long `deployer --help` takes, against the interpreter alone and `import boto3`.

Budget: 150 ms median. Prints the figures and the ratios from one run; exits 1 over budget.
Run: .venv/bin/python benchmarks/cli_startup.py [runs]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BUDGET_MS = 150.0


def median_ms(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    deployer = str(Path(sys.executable).with_name("deployer")) if Path(sys.executable).with_name("deployer").exists() else shutil.which("deployer")
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "deployer --help": [deployer, "--help"],
        "python -c 'import boto3'": [sys.executable, "-c", "import boto3"],
    }
    results = {name: median_ms(cmd, runs) for name, cmd in cases.items()}
    base = results["python -c pass"]
    print(f"cli startup, median of {runs} runs")
    for name, ms in results.items():
        print(f"  {name:<28} {ms:7.1f} ms   x{ms / base:4.2f} of bare python")
    help_ms = results["deployer --help"]
    boto3_ms = results["python -c 'import boto3'"]
    verdict = "within" if help_ms <= BUDGET_MS else "OVER"
    print(f"deployer --help: {help_ms:.1f} ms, {verdict} the {BUDGET_MS:.0f} ms budget "
          f"({help_ms / boto3_ms:.2f}x of importing boto3)")
    return 0 if help_ms <= BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
