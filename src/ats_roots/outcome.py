"""What a command hands back to the CLI: text lines, a JSON document, an exit
code and, on failure, the one line that says what to do. Commands compute;
the CLI only prints, so every command reads the same and tests can call the
function and get what the user sees."""

from __future__ import annotations

from ats_roots import errors


class Outcome:
    # A plain class, not a dataclass: every command builds one, and importing
    # `dataclasses` (with inspect) is a tenth of `ats verify`'s start.
    def __init__(
        self,
        lines: list[str] | None = None,  # the report for people
        doc: dict | list | None = None,  # the same report for --json
        code: int = errors.OK,
        error: str | None = None,  # printed as "ats: error: ..." on stderr
    ):
        self.lines = [] if lines is None else lines
        self.doc = {} if doc is None else doc
        self.code = code
        self.error = error

    def __repr__(self) -> str:
        return f"Outcome(code={self.code}, error={self.error!r}, lines={self.lines!r})"
