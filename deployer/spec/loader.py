"""Read `deployer.yaml` into a validated `DeployerConfig`, or fail with one line per problem.

Each line names the file and line, the field path (which starts with the service) and what
was expected, e.g. `deployer.yaml:14: services.web.release.steps[2]: expected a weight 1..100`.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from deployer.errors import ConfigError
from deployer.spec.models import DeployerConfig, Service
from deployer.spec.safe_yaml import load_yaml, path_text, read_text
from deployer.spec.units import clip

DEFAULT_FILE = "deployer.yaml"


def load_config(path: str | Path = DEFAULT_FILE) -> DeployerConfig:
    path = Path(path)
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"], hint="pass --config PATH or run where deployer.yaml is") from None
    return parse_config(text, str(path))


def parse_config(text: str, filename: str = DEFAULT_FILE) -> DeployerConfig:
    data, root = load_yaml(text, filename)
    if not isinstance(data, dict):
        raise ConfigError([f"{filename}:1: expected a mapping with `services:` at the top"])
    problems = []
    services = data.get("services")
    if isinstance(services, dict):
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):
            problems.append(f"{filename}:{_line(root, ('defaults',))}: defaults: expected a mapping of service fields")
            defaults = {}
        merged = {}
        for key, body in services.items():
            if body is None:
                body = {}
            if not isinstance(body, dict):
                merged[key] = body
                continue
            if "name" in body and body["name"] != key:
                problems.append(
                    f"{filename}:{_line(root, ('services', key, 'name'))}: {_path_text(('services', key, 'name'))}: "
                    f"must match its key {clip(key)} (got {clip(body['name'])}); the key is the name"
                )
            merged[key] = {**_deep_merge(defaults, body), "name": key}
        data = {**data, "services": merged}
    try:
        config = DeployerConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(_format(err, filename, root) for err in exc.errors())
    else:
        from deployer.spec.clashes import clashes

        problems.extend(f"{filename}:{_line(root, loc)}: {_path_text(loc)}: {message}" for loc, message in clashes(config))
    if problems:
        raise ConfigError(_dedupe(problems))
    return config


def load_service(path: str | Path, name: str) -> Service:
    """One service by name, with the names that exist when it is not there."""
    config = load_config(path)
    if name not in config.services:
        known = ", ".join(sorted(config.services))
        raise ConfigError([f"{path}: no service {name!r} (services: {known})"])
    return config.services[name]


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _dedupe(lines: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for line in lines:
        seen.setdefault(line, None)
    return list(seen)


def _clean_loc(loc: tuple) -> tuple:
    """Drop pydantic's union/validator tags (`int`, `function-before[...]`) from a location."""
    return tuple(p for p in loc if isinstance(p, int) or ("[" not in p and p not in ("int", "str", "float", "bool")))


def _path_text(loc: tuple) -> str:
    return path_text(loc)


def _format(err: dict, filename: str, root: yaml.Node | None) -> str:
    loc = _clean_loc(err["loc"])
    kind = err["type"]
    if kind == "missing":
        text = "required field is missing"
    elif kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        text = "unknown field"
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        if close:
            text += f"; did you mean {close[0]!r}?"
        elif allowed:
            text += f"; expected one of: {', '.join(allowed)}"
    else:
        text = describe(err)
    line, found = _line_found(root, loc)
    if not found and len(loc) > 2 and loc[0] == "services":
        # The value may come from `defaults:`; point there when it does.
        default_line, default_found = _line_found(root, ("defaults", *loc[2:]))
        if default_found:
            line, text = default_line, f"{text} (set in defaults)"
    return f"{filename}:{line}: {_path_text(loc)}: {text}"


def describe(err: dict) -> str:
    """What one pydantic error expected, in words, with the value given (clipped); no location.

    Shared with the command line, which checks flags with the spec's own types.
    """
    text = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    text = text.replace("Input should be a valid dictionary", "expected a mapping").replace("Input should be", "expected").replace("String should", "expected a text that should")
    got = err.get("input")
    if err["type"] != "value_error" and isinstance(got, (str, int, float, bool)) and "got" not in text:
        text += f" (got {clip(got)})"
    return text


def _line(root: yaml.Node | None, loc: tuple) -> int:
    return _line_found(root, loc)[0]


def _line_found(root: yaml.Node | None, loc: tuple) -> tuple[int, bool]:
    """Line of the deepest YAML node on `loc` that exists (1-based), and whether all of `loc` exists."""
    node = root
    line = 1 if root is None else root.start_mark.line + 1
    if root is None:
        return line, False
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    line = key.start_mark.line + 1
                    child = value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            return line, False
        node = child
    return line, True


def _fields_at(loc: tuple) -> list[str]:
    """Field names of the model found at `loc`, to suggest a fix for an unknown field."""
    current: Any = DeployerConfig
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        else:
            origin = typing.get_origin(current)
            args = typing.get_args(current)
            if origin in (list, dict) and args:
                current = args[-1]
            else:
                return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [name for name in current.model_fields if name != "name" or current is not Service]
    return []


def _unwrap(annotation: Any) -> Any:
    """`X | None` and `Annotated[X, ...]` -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation
