"""`deployer pipelines init`: the pipeline files for one service, rendered from `templates/`
(shipped with the package: deployer/resources.py).

Rendering is pure (spec in, {path: text} out); `write` is the only I/O and never overwrites a
file unless asked. Templates use [[ ]] and [% %] so that GitHub's own ${{ }} passes through.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from deployer import __version__, resources
from deployer.errors import UsageError

TEMPLATES = resources.data("templates")

# The rendered workflows use deployer's action from deployer's own repository, pinned to a release
# commit, instead of a copy in the user's repository: GitHub checks that commit out and the action
# installs deployer from the checkout (pipelines/github/action.yml), never by name from a package
# index, so the commit in `uses:` is the deployer that runs with the job's AWS credentials. A
# release sets both to the commit its tag `v<version>` points at. Until the first release they are
# placeholders: a rendered workflow then stops at "Set up job" (the action cannot be resolved)
# rather than run anything else.
ACTION_REPOSITORY = "OWNER/deployer"
ACTION_COMMIT = "0" * 40


@dataclass(frozen=True)
class Scaffold:
    service: str
    strategy: str
    steps: str  # canary weights with a pause before 100, e.g. "10,25,50,pause,100"
    config: str
    region: str
    registry: str


def canary_steps_with_approval(steps: list) -> str:
    """The spec's weights with a `pause` before the last, where the Jenkins approval promotes."""
    weights = [s for s in steps if s != "pause"]
    if len(weights) < 2:
        return ",".join(map(str, weights))
    return ",".join(map(str, weights[:-1] + ["pause", weights[-1]]))


def scaffold_for(service, config_path: str, region: str | None, registry: str | None) -> Scaffold:
    region = region or "eu-west-1"
    return Scaffold(
        service=service.name,
        strategy=service.release.strategy,
        steps=canary_steps_with_approval(list(service.release.steps)),
        config=config_path,
        region=region,
        registry=registry or f"123456789012.dkr.ecr.{region}.amazonaws.com",
    )


def _environment() -> jinja2.Environment:
    if not TEMPLATES.is_dir():
        raise UsageError(f"pipeline templates not found at {TEMPLATES}",
                         hint="reinstall deployer-ecs: its package data is missing")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        variable_start_string="[[", variable_end_string="]]", block_start_string="[%", block_end_string="%]",
        comment_start_string="[#", comment_end_string="#]", trim_blocks=True, lstrip_blocks=True, autoescape=False,
    )


def strategies_text() -> str:
    """The registry's strategies as the pipelines document them: "rolling, canary or bluegreen"."""
    from deployer.release.strategies import names

    found = list(names())
    return ", ".join(found[:-1]) + " or " + found[-1]


def render(ci: str, s: Scaffold) -> dict[str, str]:
    """Relative path -> file text, for `ci` = github | jenkins."""
    env = _environment()
    values = {"version": __version__, "action": f"{ACTION_REPOSITORY}/pipelines/github@{ACTION_COMMIT}",
              "strategies": strategies_text(), **s.__dict__}
    if ci == "github":
        return {
            ".github/workflows/deployer-release.yml": env.get_template("github/deployer-release.yml.j2").render(values),
            f".github/workflows/release-{s.service}.yml": env.get_template("github/release-service.yml.j2").render(values),
        }
    if ci == "jenkins":
        return {"Jenkinsfile": env.get_template("jenkins/Jenkinsfile.j2").render(values)}
    raise UsageError(f"--ci {ci}: expected github or jenkins")


def write(files: dict[str, str], directory: Path, force: bool) -> list[Path]:
    """Write every file, or none: existing files stop it unless `force`."""
    targets = {directory / rel: text for rel, text in files.items()}
    existing = [p for p, text in targets.items() if p.exists() and p.read_text() != text]
    if existing and not force:
        raise UsageError(f"{', '.join(str(p) for p in existing)}: already there and different",
                         hint="--force overwrites; or move them aside and compare")
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(targets)
