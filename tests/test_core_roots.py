"""The pinned roots: `ats roots`, the pins, and refusing a root that is not one."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from helpers import DATA, FIXTURES, REPO, ROOT_FILES, ats

from ats_roots.trust.roots import PINS, PinMismatch, check_pin, load_roots


def sources_md_pins() -> dict[str, str]:
    """The SHA-256 table of tests/fixtures/ats-public/SOURCES.md: name -> colon hex."""
    text = (FIXTURES / "SOURCES.md").read_text()
    rows = re.findall(r"^\| ([^|]+?) \| ((?:[0-9A-F]{2}:){31}[0-9A-F]{2}) \|$", text, re.M)
    assert len(rows) == 5, rows
    return dict(rows)


def openssl_fingerprint(path) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip().split("=", 1)[1]


def test_roots_json():
    proc = ats("roots", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["file"] for r in rows] == list(ROOT_FILES)
    table = sources_md_pins()
    by_md_name = {
        "Amazon Root CA 1": "Amazon Root CA 1",
        "Amazon Root CA 2": "Amazon Root CA 2",
        "Amazon Root CA 3": "Amazon Root CA 3",
        "Amazon Root CA 4": "Amazon Root CA 4",
        "Starfield Services Root Certificate Authority - G2": "Starfield Services Root CA - G2",
    }
    for row in rows:
        assert row["sha256"] == table[by_md_name[row["name"]]]
        assert row["sha256"] == openssl_fingerprint(DATA / row["file"])  # an independent hash
        assert row["name"] in row["subject"]
        not_after = datetime.datetime.fromisoformat(row["not_after"])
        assert not_after.year in (2034, 2037, 2038, 2040), row
        assert not_after > datetime.datetime.now(datetime.timezone.utc)
    human = ats("roots")
    assert human.returncode == 0 and human.stdout.count("sha256") == 5


def test_the_shipped_data_matches_the_fixtures():
    for name in ROOT_FILES:
        assert (DATA / name).read_bytes() == (FIXTURES / name).read_bytes()
    assert [r.filename for r in load_roots()] == list(PINS)


def test_check_pin_refuses_a_different_certificate():
    other = (DATA / "AmazonRootCA4.pem").read_bytes()
    with pytest.raises(PinMismatch, match=r"^AmazonRootCA3\.pem: SHA-256 E3:5D:.* does not match"):
        check_pin("AmazonRootCA3.pem", other)
    # Positive control: the right bytes under the right name pass.
    assert check_pin("AmazonRootCA4.pem", other).name == "Amazon Root CA 4"


def test_check_pin_refuses_altered_bytes():
    pem = (DATA / "AmazonRootCA1.pem").read_bytes()
    lines = pem.split(b"\n")
    line = bytearray(lines[5])
    line[10] = ord("A") if line[10] != ord("A") else ord("B")  # one base64 character
    lines[5] = bytes(line)
    with pytest.raises(PinMismatch, match=r"^AmazonRootCA1\.pem: "):
        check_pin("AmazonRootCA1.pem", b"\n".join(lines))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "holds no PEM certificate"),
        (b"hello\n", "not PEM"),
        (None, "holds 2 certificates, expected 1"),
    ],
)
def test_check_pin_refuses_what_is_not_one_root(data, message):
    if data is None:
        data = (DATA / "AmazonRootCA2.pem").read_bytes() * 2
    with pytest.raises(PinMismatch, match="^AmazonRootCA2.pem: .*" + message):
        check_pin("AmazonRootCA2.pem", data)


def test_check_pin_refuses_an_unknown_name():
    with pytest.raises(PinMismatch, match="not one of the pinned"):
        check_pin("ISRG_Root_X1.pem", (DATA / "AmazonRootCA1.pem").read_bytes())


def test_a_tampered_package_refuses_to_run(tmp_path):
    """A copy of the package whose data file was swapped: every command that
    needs the roots stops, naming the file, and never uses it."""
    shutil.copytree(REPO / "src" / "ats_roots", tmp_path / "ats_roots")
    swapped = tmp_path / "ats_roots" / "trust" / "data" / "AmazonRootCA3.pem"
    swapped.unlink()  # the copy may be read-only
    shutil.copy(DATA / "AmazonRootCA4.pem", swapped)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text("ID=debian\n")
    for args in (["roots"], ["install", "--root", str(root), "--dry-run"]):
        proc = subprocess.run(
            [sys.executable, "-m", "ats_roots", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("ats: error: AmazonRootCA3.pem: SHA-256 E3:5D:28")
        assert len(proc.stderr.splitlines()) == 1
        assert not (root / "var").exists()
