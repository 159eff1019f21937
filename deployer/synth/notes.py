"""Deliberate security choices, written into the template next to the resource they concern. Pure.

A security scanner reads the template, not our README: where a template keeps something a
scanner flags (a public listener on port 80 that only redirects, a log group on AWS's own key),
the resource says why in its metadata, under `SecurityNotes`, with the spec field that changes it.
"""

from __future__ import annotations

from troposphere import BaseAWSObject

KEY = "SecurityNotes"


def note(resource: BaseAWSObject, finding: str, reason: str) -> BaseAWSObject:
    """Add one note (`finding`: what a reviewer would flag; `reason`: why it stays, and how to change it)."""
    metadata = dict(getattr(resource, "Metadata", None) or {})
    metadata[KEY] = [*metadata.get(KEY, []), {"Finding": finding, "Reason": reason}]
    resource.Metadata = metadata
    return resource
