"""Reading a train's JSON report (`deployer -o json train release|resume|rollback`): which member
halted it, and each member's state and release, in wave order. Pure: the GitHub outputs and the
webhook's job state read the report the same way."""

from __future__ import annotations

from collections.abc import Mapping


def members_in_wave_order(report: Mapping) -> list[tuple[str, Mapping]]:
    """(service, member entry) for every member, wave by wave; within a wave, the report's order."""
    members = report.get("members") or {}
    order = {name: index for index, name in enumerate(members)}
    return sorted(members.items(), key=lambda item: (_wave(item[1]), order[item[0]]))


def halted_by(report: Mapping) -> str:
    """The member whose failure halted the train: the failed member the reason names ("web: ..."),
    else the first failed one; empty when the train released, was interrupted or never ran."""
    if report.get("result") in ("released", "noop"):
        return ""
    failed = [name for name, member in members_in_wave_order(report) if member.get("state") == "failed"]
    reason = str(report.get("reason") or "")
    named = next((name for name in failed if reason.startswith(f"{name}: ")), None)
    return named or (failed[0] if failed else "")


def member_states(report: Mapping) -> dict[str, dict[str, str]]:
    """service -> {state, release_id}, wave by wave: the compact view of a train's members."""
    return {name: {"state": str(member.get("state") or ""), "release_id": str(member.get("release_id") or "")}
            for name, member in members_in_wave_order(report)}


def _wave(member: Mapping) -> int:
    wave = member.get("wave")
    return wave if isinstance(wave, int) else 0
