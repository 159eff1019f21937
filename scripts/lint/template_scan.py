"""Scan the example templates with checkov and hold the line on its findings.

Usage: template_scan.py CHECKOV TEMPLATE_DIR

Fails when more checks fail in one template than BUDGET (the CDK ALB-Fargate pattern fails 7 of
the same checks for one service; each example service is held to that, so adding one never
spends another's budget),
or when a failed check's resource does not say why in its `SecurityNotes` metadata
(deployer.synth.notes). Prints one line per finding, with the note that explains it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BUDGET = 7


def findings(checkov: str, directory: Path) -> tuple[int, list[dict]]:
    run = subprocess.run(
        [checkov, "-d", str(directory), "--framework", "cloudformation", "-o", "json", "--quiet", "--compact", "--skip-download"],
        capture_output=True, text=True, timeout=600,
    )
    if run.returncode not in (0, 1):  # 1: checks failed; anything else: checkov itself did
        sys.exit(f"template scan: checkov exited {run.returncode}: {run.stderr.strip()[-500:]}")
    reports = json.loads(run.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    failed = [c for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    return passed, failed


def note_for(directory: Path, check: dict) -> list[dict]:
    template = json.loads((directory / Path(check["file_path"]).name).read_text())
    logical_id = check["resource"].rsplit(".", 1)[-1]
    resource = template.get("Resources", {}).get(logical_id, {})
    return resource.get("Metadata", {}).get("SecurityNotes", [])


def main(checkov: str, directory: str) -> int:
    folder = Path(directory)
    passed, failed = findings(checkov, folder)
    unexplained = 0
    for check in failed:
        notes = note_for(folder, check)
        unexplained += not notes
        print(f"  {Path(check['file_path']).name}: {check['check_id']} {check['resource']}: {check['check_name']}")
        for note in notes or [{"Finding": "NO NOTE", "Reason": "say why in the resource's SecurityNotes, or fix it"}]:
            print(f"      {note['Finding']}: {note['Reason']}")
    per_template: dict[str, int] = {}
    for check in failed:
        name = Path(check["file_path"]).name
        per_template[name] = per_template.get(name, 0) + 1
    worst = max(per_template.items(), key=lambda item: item[1], default=("-", 0))
    print(f"template scan: {passed} passed, {len(failed)} failed in {len(per_template)} template(s), at most {worst[1]} "
          f"in one ({worst[0]}; budget {BUDGET} per template), {unexplained} without a note")
    return 1 if worst[1] > BUDGET or unexplained else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
