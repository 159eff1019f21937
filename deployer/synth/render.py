"""Write templates to files: the only file I/O of synth."""

from __future__ import annotations

from pathlib import Path

from troposphere import Template

from deployer.errors import ConfigError
from deployer.spec import DeployerConfig
from deployer.synth import bootstrap_template, cluster_template, judge_template, service_template


def templates_for(config: DeployerConfig, services: list[str]) -> dict[str, Template]:
    """File stem -> template for the named services (all when empty), their clusters, and the stacks
    made once per account and region (bootstrap, and the judge function's)."""
    unknown = [s for s in services if s not in config.services]
    if unknown:
        raise ConfigError([f"no service {s!r} (services: {', '.join(sorted(config.services))})" for s in unknown])
    chosen = [config.services[s] for s in (services or list(config.services))]
    out: dict[str, Template] = {"bootstrap": bootstrap_template(), "judge": judge_template()}
    for cluster in sorted({s.cluster for s in chosen}):
        out[f"cluster-{cluster}"] = cluster_template(cluster)
    for service in chosen:
        out[service.name] = service_template(service)
    return out


def render(template: Template, fmt: str) -> str:
    return template.to_yaml() if fmt == "yaml" else template.to_json(indent=2) + "\n"


def write_templates(config: DeployerConfig, services: list[str], out_dir: Path, fmt: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, template in templates_for(config, services).items():
        path = out_dir / f"{stem}.template.{fmt}"
        path.write_text(render(template, fmt), encoding="utf-8")
        written.append(path)
    return written
