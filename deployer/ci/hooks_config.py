"""hooks.yaml: which deliveries may start which releases. The payload only picks an entry here;
cluster, role and endpoint never come from it. The secret is read from the environment.

An entry names a `service` (with its `image`) or a `train` of deployer.yaml (with `images`, one per
member); each image has `{tag}` where the delivery's tag goes."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from deployer.errors import ConfigError
from deployer.spec.checked import ServiceName, StrategyName

Strategy = Annotated[str, AfterValidator(lambda name: str(StrategyName.parse(name)))]  # the spec's rule: the registry
Member = Annotated[str, AfterValidator(lambda name: str(ServiceName.parse(name)))]  # a train member: a service name


def _has_tag(value: str) -> str:
    if "{tag}" not in value:
        raise ValueError("expected `{tag}` in the image, e.g. registry/web:{tag}")
    return value


TaggedImage = Annotated[str, AfterValidator(_has_tag)]


class EntryError(ValueError):
    """A problem of one entry (or of one of its fields): `loc` is where, under the model that raised it,
    so that the loader names that line."""

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc


LISTEN = r"^[\w.\-]+:\d{1,5}$"  # host:port


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HookRelease(Model):
    service: str | None = Field(None, description="Service name in deployer.yaml (or give `train`).")
    image: TaggedImage | None = Field(None, description="The service's image; `{tag}` is replaced by the delivery's tag.")
    train: str | None = Field(None, min_length=1,
                              description="Release train name in deployer.yaml (`trains:`), instead of a service.")
    images: dict[Member, TaggedImage] | None = Field(None, description="A train's members: service -> image with `{tag}`, "
                                                     "one per member.")
    tag_pattern: str = Field(r"^v?\d+\.\d+\.\d+$", description="Regular expression a tag must match in full.")
    repository: str | None = Field(None, description="GitHub owner/name the delivery must come from (GitHub only).")
    strategy: Strategy | None = None

    @field_validator("tag_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _service_or_train(self) -> "HookRelease":
        if self.service is not None and self.train is not None:
            raise EntryError(("train",), "give either `service` (with `image`) or `train` (with `images`), not both")
        if self.train is not None:
            if not self.images:
                raise EntryError(("images",), "a train entry needs `images`: one `member: image` line per member, "
                                              "each image with `{tag}`")
            if self.image is not None:
                raise EntryError(("image",), "a train entry takes `images` (member: image), not `image`")
            if self.strategy is not None:
                raise EntryError(("strategy",), "a train's members release by their own strategies (deployer.yaml); "
                                                "`strategy` is for a service entry")
        elif self.service is not None:
            if self.image is None:
                raise EntryError(("image",), "required field is missing")
            if self.images is not None:
                raise EntryError(("images",), "a service entry takes `image`; `images` is for a train entry")
        else:
            raise EntryError((), "expected `service` (with `image`) or `train` (with `images`)")
        return self

    @property
    def key(self) -> tuple[str, str]:
        """What the entry releases: ("service", name) or ("train", name); one entry per key."""
        return ("train", self.train) if self.train is not None else ("service", self.service or "")

    @property
    def name(self) -> str:
        return self.key[1]

    def images_for(self, tag: str) -> dict[str, str]:
        """service -> image with the tag filled in: the service's, or every member's of a train."""
        if self.train is not None:
            return {member: image.replace("{tag}", tag) for member, image in (self.images or {}).items()}
        return {self.name: (self.image or "").replace("{tag}", tag)}


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
        """One entry per service, per train (a train's name is its own key: a service of it may have
        an entry of its own) and per repository; the second entry of a kind is the one named."""
        seen: dict[tuple[str, str], int] = {}
        for index, entry in enumerate(self.releases):
            kind, name = entry.key
            if (kind, name) in seen:
                raise EntryError(("releases", index, kind),
                                 f"one entry per {kind}: {name} has one already (releases.{seen[kind, name]})")
            seen[kind, name] = index
        repositories: dict[str, int] = {}
        for index, entry in enumerate(self.releases):
            if entry.repository:
                if entry.repository in repositories:
                    raise EntryError(("releases", index, "repository"), f"one entry per repository: {entry.repository} "
                                     f"has one already (releases.{repositories[entry.repository]})")
                repositories[entry.repository] = index
        return self

    def entry(self, service: str) -> HookRelease | None:
        return next((r for r in self.releases if r.key == ("service", service)), None)

    def train_entry(self, train: str) -> HookRelease | None:
        return next((r for r in self.releases if r.key == ("train", train)), None)

    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host, int(port)

    def secret(self, environ=os.environ) -> bytes:
        value = environ.get(self.secret_env, "")
        if len(value) < 16:
            raise ConfigError([f"{self.secret_env}: the webhook secret is {'empty' if not value else 'shorter than 16 characters'}"],
                              hint=f"export {self.secret_env} (the same secret as the sender's); the receiver never starts without one")
        return value.encode()


def check_against_spec(config: HooksConfig, spec, hooks_path: Path, spec_path: Path) -> None:
    """Every entry names what deployer.yaml has: a service, or a train with an image for exactly its
    members. Checked when the receiver starts, so a wrong entry is one line then, not a failed job
    at the first delivery."""
    problems = []
    for index, entry in enumerate(config.releases):
        where = f"{hooks_path}: releases.{index}"
        if entry.train is None:
            if entry.service not in spec.services:
                problems.append(f"{where}.service: no service {entry.service} in {spec_path} "
                                f"(services: {', '.join(spec.services) or 'none'})")
            continue
        if entry.train not in spec.trains:
            problems.append(f"{where}.train: no train {entry.train} in {spec_path} (trains: {', '.join(spec.trains) or 'none'})")
            continue
        members = spec.trains[entry.train].members
        missing = [m for m in members if m not in (entry.images or {})]
        extra = [m for m in (entry.images or {}) if m not in members]
        if missing:
            problems.append(f"{where}.images: train {entry.train} needs an image for every member; missing: {', '.join(missing)}")
        if extra:
            problems.append(f"{where}.images: {', '.join(extra)}: not a member of train {entry.train} "
                            f"(members: {', '.join(members)})")
    if problems:
        raise ConfigError(problems)


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
            loc = tuple(p for p in err["loc"] if p != "[key]")  # a mapping's bad key: named by the key itself
            cause = (err.get("ctx") or {}).get("error")
            if isinstance(cause, EntryError):
                loc += cause.loc
            where = ".".join(str(p) for p in loc) or "(top)"
            message = "required field is missing" if err["type"] == "missing" else err["msg"].removeprefix("Value error, ")
            lines.append(f"{path}:{_line(root, loc)}: {where}: {message}")
        raise ConfigError(lines) from None
