"""A change set and a template change as a readable diff: normalise -> compare -> render. Pure."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Iterable

_SIGNS = {"Add": "+", "Modify": "~", "Remove": "-", "Import": "<", "Dynamic": "?"}


@dataclass(frozen=True)
class ChangeRow:
    action: str
    logical_id: str
    resource_type: str
    replacement: str  # "True" | "False" | "Conditional" | ""
    properties: tuple[str, ...]

    def line(self) -> str:
        sign = _SIGNS.get(self.action, "?")
        text = f"{sign} {self.action:<7} {self.logical_id} ({self.resource_type})"
        if self.properties:
            text += f" [{', '.join(self.properties)}]"
        if self.replacement in ("True", "Conditional"):
            text += f"  REPLACEMENT: {self.replacement}"
        return text


def change_rows(changes: Iterable[dict]) -> list[ChangeRow]:
    """Rows from DescribeChangeSet's `Changes`, sorted by action then logical ID."""
    rows = []
    for change in changes:
        rc = change.get("ResourceChange", {})
        props = sorted(
            {d.get("Target", {}).get("Name") or d.get("Target", {}).get("Attribute", "") for d in rc.get("Details", [])} - {""}
        )
        rows.append(
            ChangeRow(
                action=rc.get("Action", "?"),
                logical_id=rc.get("LogicalResourceId", "?"),
                resource_type=rc.get("ResourceType", "?"),
                replacement=str(rc.get("Replacement", "") or ""),
                properties=tuple(props),
            )
        )
    order = {a: i for i, a in enumerate(_SIGNS)}
    return sorted(rows, key=lambda r: (order.get(r.action, 99), r.logical_id))


def parameter_lines(old: dict[str, str], new: dict[str, str]) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if before is None:
            out.append(f"+ {key} = {after!r}")
        elif after is None:
            out.append(f"- {key} (was {before!r})")
        else:
            out.append(f"~ {key}: {before!r} -> {after!r}")
    return out


def normalise_template(template: dict) -> str:
    return json.dumps(template, indent=2, sort_keys=True, default=str)


def template_diff(old: dict, new: dict, *, context: int = 2) -> list[str]:
    """Unified diff of two templates, keys sorted so ordering never shows as a change."""
    return list(
        difflib.unified_diff(
            normalise_template(old).splitlines(),
            normalise_template(new).splitlines(),
            fromfile="live",
            tofile="new",
            lineterm="",
            n=context,
        )
    )
