"""Progress for people: one line per event on stderr, so stdout stays clean for results."""

from __future__ import annotations

import click


class TextProgress:
    def __init__(self, *, quiet: bool = False):
        self.quiet = quiet

    def line(self, text: str) -> None:
        if not self.quiet:
            click.echo(text, err=True)

    def untrusted(self, text: str) -> None:
        """Text from outside (ECS events): shown as is; CI modes make sure it is never obeyed."""
        self.line(text)

    def close(self) -> None:
        """Output is complete (CI modes close what they opened)."""

    def event(self, event) -> None:
        if not self.quiet:
            line = event.line()
            click.echo(click.style(line, fg="red") if event.failed else line, err=True)


class ReleaseTextProgress(TextProgress):
    """One line per step and per poll; verdicts highlighted."""

    def step(self, index: int, total: int, text: str) -> None:
        self.line(click.style(f"[{index}/{total}] {text}", bold=True))

    def verdict(self, step: str, data: dict) -> None:
        colour = {"PASS": "green", "FAIL": "red"}.get(data["outcome"], "yellow")
        self.line(click.style(f"    gate at {step}: {data['outcome']} ({data['reason']}): {data['detail']}", fg=colour))


class MemberProgress:
    """A train member's progress: every line prefixed with its service, one writer at a time
    (members of a wave run in threads)."""

    def __init__(self, inner, name: str, lock):
        self.inner, self.name, self.lock = inner, name, lock

    def line(self, text: str) -> None:
        with self.lock:
            self.inner.line(f"{self.name}: {text}")

    def untrusted(self, text: str) -> None:
        with self.lock:
            self.inner.untrusted(f"{self.name}: {text}")

    def step(self, index: int, total: int, text: str) -> None:
        with self.lock:
            self.inner.step(index, total, f"{self.name}: {text}")

    def verdict(self, step: str, data: dict) -> None:
        with self.lock:
            self.inner.verdict(f"{self.name} {step}", data)

    def close(self) -> None:
        """The train closes the shared output once, at its end."""
