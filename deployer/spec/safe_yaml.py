"""Read YAML that people write (deployer.yaml, hooks.yaml) within limits, as data plus its node tree.

PyYAML alone accepts what breaks or hangs a tool: a second `web:` silently replaces the first,
aliases that expand exponentially ("billion laughs"), nesting deep enough for a RecursionError,
and files of any size (`-c /dev/zero` reads until memory runs out). Here each of them is one
ConfigError line naming the file and the line. The node tree gives line numbers to later errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from deployer.errors import ConfigError
from deployer.spec.units import clip

MAX_BYTES = 1024 * 1024  # a deployer.yaml is a few KiB
MAX_DEPTH = 64  # mappings and lists inside each other
MAX_NODES = 20_000  # values written in the file (examples/deployer.yaml has 159)
MAX_ALIAS_NODES = 10_000  # values reached again through aliases (`*name`, `<<: *name`)


def read_text(path: str | Path) -> str:
    """The file's text, reading at most MAX_BYTES + 1 bytes. FileNotFoundError is left to the caller."""
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError([_too_large(path)])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError([f"{path}:{line}: cannot read: not UTF-8 text (byte {raw[exc.start]:#04x})"]) from None


def load_yaml(text: str, filename: str) -> tuple[Any, yaml.Node | None]:
    """(data, root node) of one YAML document, or ConfigError with one line."""
    if len(text) > MAX_BYTES:
        raise ConfigError([_too_large(filename)])
    fast = _load_plain_with_libyaml(text)
    return fast if fast is not None else _load_checked(text, filename)


def _load_checked(text: str, filename: str) -> tuple[Any, yaml.Node | None]:
    """PyYAML's pure-Python reader, checked as it composes: every refusal names its line and path."""
    loader = None
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except _Refused as exc:
        raise ConfigError([f"{filename}:{exc.line}: {exc.text}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f"{filename}:{mark.line + 1}:{mark.column + 1}"
        elif isinstance(exc, yaml.reader.ReaderError):
            where = f"{filename}:{text.count(chr(10), 0, exc.position) + 1}"
        else:
            where = filename
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([f"{where}: not valid YAML: {problem}"]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, root


def _load_plain_with_libyaml(text: str) -> tuple[Any, yaml.Node | None] | None:
    """The fast path for the common case: libyaml composes (about 15x faster than PyYAML's pure-Python
    parser), then one walk checks the limits. Only for text without anchors or aliases (no `&`, no `*`),
    where nothing can expand or refer to itself; anything unusual (an error, a limit reached, a duplicate
    key) returns None and the checked pure-Python reader below gives the exact one-line answer."""
    if not getattr(yaml, "__with_libyaml__", False) or "&" in text or "*" in text:
        return None
    loader = yaml.CSafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None and not _within_limits(root):
            return None
        return (loader.construct_document(root) if root is not None else None), root
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError):
        return None
    finally:
        loader.dispose()


def _within_limits(root: yaml.Node) -> bool:
    """No duplicate key, no deeper nesting than MAX_DEPTH, no more values than MAX_NODES (a tree: no aliases)."""
    nodes = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES or depth >= MAX_DEPTH:
            return False
        if isinstance(node, SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, MappingNode):
            keys = set()
            for key, value in node.value:
                if isinstance(key, ScalarNode):
                    if (key.tag, key.value) in keys:
                        return False
                    keys.add((key.tag, key.value))
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
    return True


def _too_large(path: str | Path) -> str:
    return f"{path}: larger than {MAX_BYTES // 1024 // 1024} MiB, the limit for a configuration file (is it the right file?)"


def path_text(parts: list | tuple) -> str:
    """`services.web.release.steps[2]`; keys that are not plain text are shown quoted."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        part = str(part)
        if not part.isprintable() or len(part) > 60 or part == "":
            part = clip(part)
        out += f".{part}" if out else part
    return (out if len(out) <= 120 else out[:100] + "...") or "(top level)"


class _Refused(Exception):
    def __init__(self, mark, text: str):
        super().__init__(text)
        self.line = mark.line + 1
        self.text = text


class _Loader(yaml.SafeLoader):
    """SafeLoader that counts what it composes and refuses duplicate keys, deep nesting and alias bombs."""

    def __init__(self, stream):
        super().__init__(stream)
        self._path: list = []  # keys and indexes down to the node being composed (None: a key itself)
        self._nodes = 0
        self._aliased = 0
        self._sizes: dict[int, int] = {}  # id(node) -> values in it, aliases expanded

    def _where(self) -> str:
        return path_text([p for p in self._path if p is not None])

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is PyYAML's own error
                size = self._sizes.get(id(target))
                if size is None:
                    raise _Refused(event.start_mark, f"{self._where()}: alias *{event.anchor} is inside its own anchor (a recursive structure)")
                self._aliased += size
                if self._aliased > MAX_ALIAS_NODES:
                    raise _Refused(event.start_mark, f"{self._where()}: aliases expand to more than {MAX_ALIAS_NODES:,} values; "
                                                     "write the values out or share them with `defaults:`")
            return super().compose_node(parent, index)
        if len(self._path) >= MAX_DEPTH:
            raise _Refused(event.start_mark, f"{self._where()}: nested deeper than {MAX_DEPTH} levels")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(event.start_mark, f"more than {MAX_NODES:,} values in one file (a deployer.yaml has a few hundred)")
        if isinstance(index, ScalarNode):
            label = index.value  # a mapping's value, under its key
        elif isinstance(index, int) or index is None:
            label = index  # a list item; or the root or a key (no label)
        else:
            label = "?"  # a value under a complex key
        self._path.append(label)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._path.pop()
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(c), 0) for c in children)
        return node

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        first: dict[tuple, int] = {}
        for key, _ in node.value:
            if not isinstance(key, ScalarNode):
                continue
            ident = (key.tag, key.value)
            if ident in first:
                where = path_text([*(p for p in self._path if p is not None), key.value])
                raise _Refused(key.start_mark, f"{where}: duplicate key (first at line {first[ident]}); "
                                               "a key may appear once, a second one would silently replace the first")
            first[ident] = key.start_mark.line + 1
        return node

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # a date like 2024-13-45, an integer of 5,000 digits
            raise ConstructorError(None, None, f"cannot read this value: {str(exc).split(';')[0]}", node.start_mark) from None
