"""hooks.yaml: which deliveries may start which releases. The payload only picks an entry here;
cluster, role and endpoint never come from it. The secret is read from the environment."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from deployer.errors import ConfigError
from deployer.spec.checked import StrategyName

Strategy = Annotated[str, AfterValidator(lambda name: str(StrategyName.parse(name)))]  # the spec's rule: the registry


LISTEN = r"^[\w.\-]+:\d{1,5}$"  # host:port


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HookRelease(Model):
    service: str = Field(description="Service name in deployer.yaml.")
    image: str = Field(description="Image to release; `{tag}` is replaced by the delivery's tag.")
    tag_pattern: str = Field(r"^v?\d+\.\d+\.\d+$", description="Regular expression a tag must match in full.")
    repository: str | None = Field(None, description="GitHub owner/name the delivery must come from (GitHub only).")
    strategy: Strategy | None = None

    @field_validator("image")
    @classmethod
    def _has_tag(cls, value: str) -> str:
        if "{tag}" not in value:
            raise ValueError("expected `{tag}` in the image, e.g. registry/web:{tag}")
        return value

    @field_validator("tag_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class HooksConfig(Model):
    secret_env: str = Field("DEPLOYER_WEBHOOK_SECRET", description="Environment variable holding the shared secret.")
    listen: str = Field("127.0.0.1:8787", pattern=LISTEN)
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=10 * 1024 * 1024)
    request_timeout: float = Field(10, ge=1, le=300, description="Seconds a connection has to send a whole request "
                                   "(from accept, or from its first byte after a response); then it is closed.")
    idle_timeout: float = Field(75, ge=1, le=3600, description="Seconds an idle keep-alive connection is kept: "
                                "above an ALB's idle timeout (60 s by default), so the ALB closes first.")
    max_connections_per_client: int = Field(16, ge=0, le=1000, description="Connections one client address may hold "
                                            "at once; more are answered 429 and closed. 0: no cap.")
    github_events: list[Literal["push", "release", "ping"]] = Field(default_factory=lambda: ["push", "release", "ping"])
    generic_events: list[str] = Field(default_factory=lambda: ["image.pushed"])
    callback_url: str | None = Field(None, pattern=r"^https?://")
    deployer_config: str = Field("deployer.yaml", description="The spec the releases use.")
    state_dir: str = Field("~/.deployer/webhook", description="Where deliveries and releases are remembered.")
    releases: list[HookRelease] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_entry_per_service(self) -> "HooksConfig":
        names = [r.service for r in self.releases]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"releases: one entry per service (twice: {', '.join(duplicated)})")
        repositories = [r.repository for r in self.releases if r.repository]
        shared = sorted({n for n in repositories if repositories.count(n) > 1})
        if shared:
            raise ValueError(f"releases: one entry per repository (twice: {', '.join(shared)})")
        return self

    def entry(self, service: str) -> HookRelease | None:
        return next((r for r in self.releases if r.service == service), None)

    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host, int(port)

    def secret(self, environ=os.environ) -> bytes:
        value = environ.get(self.secret_env, "")
        if len(value) < 16:
            raise ConfigError([f"{self.secret_env}: the webhook secret is {'empty' if not value else 'shorter than 16 characters'}"],
                              hint=f"export {self.secret_env} (the same secret as the sender's); the receiver never starts without one")
        return value.encode()


def load_hooks(path: Path) -> HooksConfig:
    from deployer.spec.safe_yaml import load_yaml, read_text  # size, depth, alias and duplicate-key limits

    try:
        data, root = load_yaml(read_text(path), str(path))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: expected a mapping with `releases:`"])
    try:
        return HooksConfig.model_validate(data)
    except ValidationError as exc:
        from deployer.spec.loader import _line

        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = ".".join(str(p) for p in loc) or "(top)"
            message = "required field is missing" if err["type"] == "missing" else err["msg"].removeprefix("Value error, ")
            lines.append(f"{path}:{_line(root, loc)}: {where}: {message}")
        raise ConfigError(lines) from None
