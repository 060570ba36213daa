"""What a command hands back to the CLI: text lines, a JSON document, an exit
code and, on failure, the one line that says what to do. Commands compute;
the CLI only prints, so every command reads the same and tests can call the
function and get what the user sees."""

from __future__ import annotations

from dataclasses import dataclass, field

from ats_roots import errors


@dataclass
class Outcome:
    lines: list[str] = field(default_factory=list)  # the report for people
    doc: dict | list = field(default_factory=dict)  # the same report for --json
    code: int = errors.OK
    error: str | None = None  # printed as "ats: error: ..." on stderr
