"""What a verification found: problems, each naming its first bad entry where it can, and notes.

Shared by the offline check of an export (:mod:`consent.ledger.offline`) and the live one
(:mod:`consent.ledger.live`). Pure: no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consent.ledger.encoding import b64

MAX_PROBLEMS = 50
"""Problems kept in a report; more are only counted, so a wrecked log costs no memory."""


@dataclass(frozen=True)
class Problem:
    message: str
    entry: int | None = None


@dataclass
class Report:
    entries: int = 0
    tree_size: int | None = None
    root: bytes | None = None
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, message: str, entry: int | None = None) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(message, entry))
        else:
            self.more_problems += 1

    @property
    def first_bad_entry(self) -> int | None:
        named = [problem.entry for problem in self.problems if problem.entry is not None]
        return min(named) if named else None

    def headline(self) -> str:
        if self.ok:
            root = b64(self.root) if self.root is not None else "-"
            return f"OK: {self.entries} entries, tree size {self.tree_size}, root {root}"
        first = self.first_bad_entry
        main = next((p for p in self.problems if p.entry == first), self.problems[0])
        suffix = f", first bad entry {first}" if first is not None else ""
        return f"FAILED: {main.message}{suffix}"

    def details(self) -> list[str]:
        first = self.first_bad_entry
        main = (
            next((p for p in self.problems if p.entry == first), self.problems[0])
            if self.problems
            else None
        )
        lines = [f"  also: {problem.message}" for problem in self.problems if problem is not main]
        if self.more_problems:
            lines.append(f"  ... and {self.more_problems} more problems")
        return lines + [f"  note: {note}" for note in self.notes]
