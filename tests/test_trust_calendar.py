"""The roots' calendar: `ats roots --json` carries it, its dates are those
of the sources' table (tests/fixtures/root-calendar.md), the distrust dates
follow Mozilla's schedule from the key dates, and warnings fall due inside
the --warn-days window only."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

from helpers import ats

from ats_roots.trust import calendar

TABLE = Path(__file__).resolve().parent / "fixtures" / "root-calendar.md"
UTC = datetime.timezone.utc


def table_rows(header: str) -> list[list[str]]:
    text = TABLE.read_text()
    block = text[text.index(header) :].split("\n\n")[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()]
    return rows[2:]


def schedule(created: datetime.date) -> datetime.date:
    """Mozilla's transition schedule, from the fixture's table."""
    if created >= datetime.date(2014, 4, 15):
        return created.replace(year=created.year + 15)
    for span, removed in table_rows("| key material created |"):
        first = re.findall(r"\d{4}", span)
        if span.startswith("before") and created.year < int(first[0]):
            return datetime.date.fromisoformat(removed)
        if len(first) == 2 and int(first[0]) <= created.year <= int(first[1]):
            return datetime.date.fromisoformat(removed)
    raise AssertionError(f"no schedule row for {created}")


def test_calendar_matches_the_sources_table():
    rows = {r[0]: r[1:] for r in table_rows("| root | key created |")}
    entries = {e.name: e for e in calendar.entries()}
    assert set(rows) == set(entries)
    for name, (created, not_after, removed) in rows.items():
        e = entries[name]
        assert e.key_created.isoformat() == created, name
        assert e.not_after.isoformat() == not_after, name
        assert e.tls_distrust.isoformat() == removed, name
        assert schedule(e.key_created) == e.tls_distrust, name


def test_ats_roots_json_carries_the_calendar():
    proc = ats("roots", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    want = {r[0]: r[1:] for r in table_rows("| root | key created |")}
    assert len(rows) == 5
    for name, row in rows.items():
        created, not_after, removed = want[name]
        assert row["key_created"] == created and row["tls_distrust"] == removed
        assert row["not_after"].startswith(not_after)  # from the certificate itself
    text = ats("roots")
    assert "loses TLS trust 2027-04-15" in text.stdout, text.stdout


def test_warnings_inside_the_window_only():
    g2 = calendar.SFS_G2
    before = datetime.datetime(2026, 4, 14, tzinfo=UTC)  # 366 days before 2027-04-15
    assert calendar.root_warnings([g2], before, 365) == []
    inside = datetime.datetime(2026, 4, 16, tzinfo=UTC)
    (w,) = calendar.root_warnings([g2], inside, 365)
    assert "loses TLS trust on 2027-04-15 (in 364 days)" in w
    assert calendar.root_warnings([g2], inside, 30) == []
    after = datetime.datetime(2027, 5, 1, tzinfo=UTC)
    assert "lost TLS trust" in calendar.root_warnings([g2], after, 0)[0]


def test_a_store_depends_on_g2_only_where_an_amazon_root_is_missing():
    inside = datetime.datetime(2026, 12, 1, tzinfo=UTC)
    every = [e.name for e in calendar.entries() if not e.legacy]
    assert calendar.store_warnings(every, inside, 365) == []
    only_g2 = calendar.store_warnings([calendar.SFS_G2], inside, 365)
    assert len(only_g2) == 1 and "2027-04-15" in only_g2[0]
    late = datetime.datetime(2029, 7, 1, tzinfo=UTC)
    assert any(
        "Amazon Root CA 1 loses TLS trust on 2030-05-26" in w
        for w in calendar.store_warnings(every, late, 365)
    )


def test_probe_warns_within_the_window(tmp_path):
    """A real handshake with the SES stand-in: its leaf expires in 395 days."""
    from pki import make_ses_pki, port_spec, run_standin

    from ats_roots.tls import probe

    pki = make_ses_pki(tmp_path / "pki")
    with run_standin(pki, tmp_path / "spool") as ports:
        resolve = {n: "127.0.0.1" for n in pki.names}
        spec = port_spec({465: ports[465]})
        wide = probe.probe_ses("us-east-1", spec, str(pki.root), 10, resolve, warn_days=400)
        narrow = probe.probe_ses("us-east-1", spec, str(pki.root), 10, resolve, warn_days=300)
    (r,) = wide
    assert r["ok"], r
    assert any(
        "email-smtp.us-east-1.amazonaws.com" in w and "expires on" in w for w in r["warnings"]
    ), r["warnings"]
    assert "      warning " in "\n".join(probe.format_text(wide))
    assert narrow[0]["ok"] and narrow[0]["warnings"] == []


def test_verify_json_carries_the_calendar(tmp_path):
    from helpers import DATA, ROOT_FILES

    bundle = tmp_path / "all.pem"
    bundle.write_bytes(b"".join((DATA / n).read_bytes() for n in ROOT_FILES))
    doc = json.loads(ats("verify", "--bundle", bundle, "--json", "--warn-days", "0").stdout)
    dates = {r["name"]: r["tls_distrust"] for r in doc["roots"]}
    assert dates["Starfield Services Root Certificate Authority - G2"] == "2027-04-15"
    assert dates["Amazon Root CA 4"] == "2030-05-26"
    assert doc["warnings"] == []  # every Amazon root held: nothing depends on G2


def test_install_never_reads_the_calendar(tmp_path):
    """What install writes must not depend on the day: it installs the five
    roots whatever their distrust dates, and never loads the calendar."""
    import subprocess
    import sys

    from helpers import synthetic_root

    root = synthetic_root(tmp_path / "root", 'ID=debian\nVERSION_ID="12"\n')
    code = (
        "import sys\n"
        "from ats_roots.system.install import install_outcome\n"
        f"out = install_outcome({str(root)!r})\n"
        "print(out.code, 'ats_roots.trust.calendar' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["0", "False"], proc.stdout + proc.stderr
    # control: verify of the same root does read it
    code = (
        "import sys\n"
        "from ats_roots.system.verify import verify\n"
        f"out = verify({str(root)!r})\n"
        "print(out.code, 'ats_roots.trust.calendar' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["0", "True"], proc.stdout + proc.stderr
