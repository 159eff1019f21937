"""Read `deployer.yaml` into a validated `DeployerConfig`, or fail with one line per problem.

Each line names the file and line, the field path (which starts with the service) and what
was expected, e.g. `deployer.yaml:14: services.web.release.steps[2]: expected a weight 1..100`.
"""

from __future__ import annotations

import math
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from deployer.errors import ConfigError
from deployer.spec.lean_msgspec import msgspec
from deployer.spec.models import ITEM_MESSAGES, DeployerConfig, Model, Service, Train, convert
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
    problems.extend(_non_finite(data, filename, root))
    config = None
    if not problems:
        config, found = _validate(data)
        problems.extend(_format(loc, message, filename, root) for loc, message in found)
    if config is not None:
        from deployer.spec.clashes import clashes

        problems.extend(f"{filename}:{_line(root, loc)}: {_path_text(loc)}: {message}" for loc, message in clashes(config))
    if problems:
        raise ConfigError(_dedupe(problems))
    return config


class _TopLevel(Model):
    """deployer.yaml around its services, which are checked one by one (each names its key)."""

    services: typing.Annotated[dict[str, Any], msgspec.Meta(min_length=1)]
    version: typing.Literal[1] = 1
    defaults: dict[str, Any] = {}
    trains: dict[str, Any] = {}


def _validate(data: dict) -> tuple[DeployerConfig | None, list[tuple[tuple, str]]]:
    """The config, or the first problem of the top level and of each service: (path, message)."""
    found = []
    try:
        top = convert(data, _TopLevel)
    except msgspec.ValidationError as exc:
        return None, [_problem(exc, (), _TopLevel, data)]
    services = _each(top.services, "services", Service, found)
    trains = _each(top.trains, "trains", Train, found)
    for key, train in trains.items():
        for index, member in enumerate(train.members):
            if member not in top.services:
                field = ("waves",) if train.waves else ("services", index)
                found.append((("trains", key, *field), f"{member} is not a service of this file (services: {', '.join(top.services)})"))
                break
    if found:
        return None, found
    return DeployerConfig(services=services, version=top.version, defaults=top.defaults, trains=trains), []


def _each(entries: dict, section: str, model: type, found: list) -> dict:
    """Each entry of a section converted on its own, so every entry's first problem is reported."""
    converted = {}
    for key, body in entries.items():
        try:
            converted[key] = convert(body, model)
        except msgspec.ValidationError as exc:
            found.append(_problem(exc, (section, key), model, body))
    return converted


_AT = re.compile(r"^(?P<message>.*?)(?: - at (?:`(?P<key>key)` in )?`\$(?P<path>[^`]*)`)?$", re.S)
_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")


def _problem(exc: msgspec.ValidationError, prefix: tuple, model: type, data: Any) -> tuple[tuple, str]:
    """msgspec's one-line error as (path from the file's top, message in our words with the value given)."""
    match = _AT.match(str(exc))
    message, loc = match["message"], []
    for part in _PART.finditer(match["path"] or ""):
        if part.group(0) == "[...]":
            break  # a value under a mapping key msgspec does not name: point at the mapping
        loc.append(part.group(1) if part.group(1) is not None else int(part.group(2)))
    named = re.match(r"^\[([\w.]+)\] (.*)$", message, re.S)  # models.field_error: a rule about one field (a.b.0)
    missing = re.match(r"^Object missing required field `(.+)`$", message)
    unknown = re.match(r"^Object contains unknown field `(.+)`$", message)
    if named:
        loc += [int(p) if p.isdigit() else p for p in named[1].split(".")]
        message = named[2]
    elif missing:
        loc.append(missing[1])
        message = "required field is missing"
    elif unknown:
        loc.append(unknown[1])
        import difflib

        allowed = _fields_at(model, tuple(loc[:-1]))
        message = "unknown field"
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        elif allowed:
            message += f"; expected one of: {', '.join(allowed)}"
    elif len(loc) >= 2 and isinstance(loc[-1], int) and loc[-2] in ITEM_MESSAGES:
        value = _value_at(data, loc)
        message = ITEM_MESSAGES[loc[-2]] + (f" (got {clip(value)})" if value is not _MISSING else "")
    elif match["key"]:
        message = f"a key {describe(message, _bad_key(_value_at(data, loc), message))}"
    else:
        message = describe(message, _value_at(data, loc), _literal_at(model, tuple(loc)))
    return (*prefix, *loc), message


def explain(exc: msgspec.ValidationError, model: type, data: Any) -> str:
    """One msgspec error in our words, without its location: for flags checked with the spec's types."""
    return _problem(exc, (), model, data)[1]


_MISSING = object()
_TYPES = {"int": "a whole number", "float": "a number", "str": "a text", "bool": "true or false", "object": "a mapping",
          "array": "a list", "null": "nothing"}
_BOUNDS = {">=": "greater than or equal to", "<=": "less than or equal to", ">": "greater than", "<": "less than"}


def describe(message: str, value: Any = _MISSING, choices: tuple | None = None) -> str:
    """What one msgspec error expected, in words, with the value given (clipped); no location.

    Shared with the command line, which checks flags with the spec's own types.
    """
    text = message
    kind = re.match(r"^Expected `([^`]+)`, got `([^`]+)`$", message)
    bound = re.match(r"^Expected `(\w+)` (>=|<=|>|<) (\S+)$", message)
    length = re.match(r"^Expected `(\w+)` of length (>=|<=) (\d+)$", message)
    pattern = re.match(r"^Expected `str` matching regex '(.*)'$", message, re.S)
    if kind:
        text = "expected " + " or ".join(_TYPES.get(t.strip(), t.strip()) for t in kind[1].split("|"))
    elif bound:
        text = f"expected {_BOUNDS[bound[2]]} {bound[3]}"
    elif length:
        unit = "character" if length[1] == "str" else "item"
        text = f"expected {'at least' if length[2] == '>=' else 'at most'} {length[3]} {unit}{'' if length[3] == '1' else 's'}"
    elif pattern:
        text = f"expected a text that should match pattern '{pattern[1]}'"
    elif message.startswith("Invalid enum value") and choices:
        shown = [repr(c) for c in choices]
        text = "expected " + (", ".join(shown[:-1]) + " or " + shown[-1] if len(shown) > 1 else shown[0])
    elif message.startswith("Invalid enum value"):
        text = "expected one of the allowed values"
    ours = not message.startswith(("Expected `", "Invalid enum value"))  # a rule of ours says what it got, if it helps
    if value is not _MISSING and isinstance(value, (str, int, float, bool)) and "(got" not in text and not ours:
        text += f" (got {clip(value)})"
    return text


def _bad_key(mapping: Any, message: str) -> Any:
    """The first key of `mapping` that breaks the pattern msgspec names, to show what was given."""
    pattern = re.match(r"^Expected `str` matching regex '(.*)'$", message, re.S)
    if isinstance(mapping, dict) and pattern:
        return next((k for k in mapping if not (isinstance(k, str) and re.search(pattern[1], k))), _MISSING)
    return _MISSING


def _value_at(data: Any, loc: list) -> Any:
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return _MISSING
    return node


def _non_finite(data: Any, filename: str, root, loc: tuple = ()) -> list[str]:
    """NaN or an infinity anywhere would disable a gate or a bound: no field takes one."""
    if isinstance(data, float) and not math.isfinite(data):
        return [f"{filename}:{_line(root, loc)}: {_path_text(loc)}: expected a finite number (got {data!r})"]
    if isinstance(data, dict):
        return [line for key, value in data.items() for line in _non_finite(value, filename, root, (*loc, key))]
    if isinstance(data, list):
        return [line for i, value in enumerate(data) for line in _non_finite(value, filename, root, (*loc, i))]
    return []


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


def _path_text(loc: tuple) -> str:
    return path_text(loc)


def _format(loc: tuple, text: str, filename: str, root: yaml.Node | None) -> str:
    line, found = _line_found(root, loc)
    if not found and len(loc) > 2 and loc[0] == "services":
        # The value may come from `defaults:`; point there when it does.
        default_line, default_found = _line_found(root, ("defaults", *loc[2:]))
        if default_found:
            line, text = default_line, f"{text} (set in defaults)"
    return f"{filename}:{line}: {_path_text(loc)}: {text}"


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


def _type_at(model: type, loc: tuple) -> Any:
    """The declared type found at `loc` under `model` (a Struct), or None."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, msgspec.Struct):
            hints = typing.get_type_hints(current, include_extras=True)
            if str(part) not in hints:
                return None
            current = hints[str(part)]
        else:
            origin = typing.get_origin(current)
            args = typing.get_args(current)
            if origin in (list, dict) and args:
                current = args[-1]
            else:
                return None
    return current


def _fields_at(model: type, loc: tuple) -> list[str]:
    """Field names of the model found at `loc`, to suggest a fix for an unknown field."""
    current = _unwrap(_type_at(model, loc))
    if isinstance(current, type) and issubclass(current, msgspec.Struct):
        return [name for name in current.__struct_fields__ if name != "name" or current is not Service]
    return []


def _literal_at(model: type, loc: tuple) -> tuple | None:
    """The allowed values of a Literal field, for "expected 'a' or 'b'"."""
    current = _unwrap(_type_at(model, loc))
    if typing.get_origin(current) is typing.Literal:
        return typing.get_args(current)
    return None


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
