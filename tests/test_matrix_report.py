"""The matrix's tables and summary from recorded cells (tests/matrix/report.py):
one table per kind of row, skips grouped by reason, Markdown for CI pages."""

from __future__ import annotations

import sys

from helpers import REPO

sys.path.insert(0, str(REPO / "tests" / "matrix"))
import report  # noqa: E402


def cell(outcome, detail=""):
    return {"outcome": outcome, "detail": detail}


CELLS = {
    ("images", "debian", "1 roots"): cell("pass"),
    ("images", "debian", "2 chains"): cell("pass"),
    ("images", "ubuntu", "1 roots"): cell("skipped", "no ubuntu base; no registry"),
    ("images", "ubuntu", "2 chains"): cell("skipped", "no ubuntu base; no registry"),
    ("images", "rhel", "1 roots"): cell("skipped", "no rhel base; no registry"),
    ("patch", "patch:alpine", "audit"): cell("FAIL", "a store still misses a root"),
    ("clients", "ses-clients-debian", "postfix"): cell("pass"),
}


def test_one_table_per_kind_of_row_and_a_summary():
    lines = report.text(CELLS)
    heads = [line for line in lines if line.startswith("-- ")]
    assert heads == [f"-- {report.TABLES[t]}" for t in ("images", "patch", "clients")]
    images = lines[lines.index(heads[0]) + 1 : lines.index(heads[1])]
    assert images[0].split() == ["1", "roots", "2", "chains"]
    assert images[1].split() == ["debian", "pass", "pass"]
    assert images[2].split() == ["ubuntu", "skip", "skip"]
    assert images[3].split() == ["rhel", "skip", "."]  # no such cell
    summary = next(line for line in lines if line.startswith("summary: "))
    assert summary.startswith("summary: 3 passed, 1 failed, 3 skipped (2 no ubuntu base")


def test_skips_are_grouped_by_reason_not_repeated_per_cell():
    line, reasons, fails = report.summary(CELLS)
    assert reasons == [
        "no ubuntu base; no registry: ubuntu [1,2]",
        "no rhel base; no registry: rhel [1]",
    ]
    assert fails == ["patch:alpine / audit: a store still misses a root"]


def test_markdown_has_the_same_tables():
    md = report.markdown(CELLS)
    assert md.count("\n## ") == 5  # three tables, failures, skips
    assert "| ubuntu | skip | skip |" in md and "| patch:alpine | **FAIL** |" in md
    assert "**3 passed, 1 failed, 3 skipped" in md


def test_no_failures_no_skips_says_so():
    ok = {k: cell("pass") for k in list(CELLS)[:2]}
    assert report.summary(ok) == ("2 passed, 0 failed, 0 skipped", [], [])
    assert "## Skipped" not in report.markdown(ok)
