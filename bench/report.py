"""How the benchmark speaks: headings, tables, targets met or missed, and a JSON record."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_NUMERIC = re.compile(r"^[-+$]?[\d,.]+%?( ?[A-Za-z/]{1,6})?$")
"""Cells that read as a number (with an optional short unit) are right-aligned."""


@dataclass(frozen=True)
class Check:
    """One target: what was measured against what was asked for."""

    figure: str
    name: str
    measured: str
    target: str
    met: bool | None
    """None: the figure could not be produced here (`note` says why)."""
    note: str = ""

    @property
    def verdict(self) -> str:
        return "n/a" if self.met is None else ("met" if self.met else "MISSED")


class Report:
    """Prints as the run goes (a long run shows progress) and keeps everything for the JSON file."""

    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.data: dict[str, Any] = {}
        self._figure = ""

    # -- printing -------------------------------------------------------------------------

    @staticmethod
    def say(text: str = "") -> None:
        print(text, flush=True)

    def heading(self, figure: str, title: str) -> None:
        self._figure = figure
        self.say()
        self.say(f"== {title} [{figure}] " + "=" * max(0, 78 - len(title) - len(figure) - 7))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: int = 2) -> None:
        cells = [[str(h) for h in headers]] + [[_cell(c) for c in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        pad = " " * indent

        def line(row: list[str]) -> str:
            return pad + "  ".join(c.rjust(w) if i and _NUMERIC.match(c) else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(row, widths))).rstrip()

        self.say(line(cells[0]))
        self.say(pad + "  ".join("-" * w for w in widths))
        for row in cells[1:]:
            self.say(line(row))

    def check(self, name: str, measured: str, target: str, met: bool | None, note: str = "") -> Check:
        check = Check(self._figure, name, measured, target, met, note)
        self.checks.append(check)
        tail = f"  ({note})" if note else ""
        self.say(f"  [{check.verdict:^6}] {name}: {measured}; target {target}{tail}")
        return check

    def summary(self) -> None:
        self.say()
        self.say("== Targets " + "=" * 69)
        self.table(
            ["figure", "target", "measured", "verdict"],
            [[c.figure, f"{c.name} {c.target}", c.measured, c.verdict] for c in self.checks],
        )
        met = sum(1 for c in self.checks if c.met)
        missed = sum(1 for c in self.checks if c.met is False)
        unavailable = sum(1 for c in self.checks if c.met is None)
        self.say(f"  {met} met, {missed} missed, {unavailable} not measurable here")

    # -- the record -----------------------------------------------------------------------

    def record(self, figure: str, value: Any) -> None:
        self.data[figure] = value

    def write_json(self, path: Path) -> None:
        payload = {**self.data, "checks": [asdict(c) | {"verdict": c.verdict} for c in self.checks]}
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def seconds(value: float) -> str:
    return f"{value:,.1f} s" if value >= 10 else f"{value:,.2f} s"
