"""`ats hook --write DIR`: the one-file hook from the installed package, byte for
byte the generated file, mode 0755, written whole; bad input is one line."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOOK = REPO / "src" / "ats_roots" / "hook" / "ats-hook"


def ats(*args, **kw):
    return subprocess.run([sys.executable, "-m", "ats_roots", *args], capture_output=True,
                          text=True, timeout=120, **kw)


def test_writes_the_generated_hook(tmp_path):
    proc = ats("hook", "--write", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    written = tmp_path / "ats-hook"
    assert written.read_bytes() == HOOK.read_bytes()
    assert stat.S_IMODE(written.stat().st_mode) == 0o755
    assert os.listdir(tmp_path) == ["ats-hook"]  # no temp file left behind
    assert proc.stdout.startswith(f"wrote {written} (ats-hook ")
    version = subprocess.run([sys.executable, str(written), "--version"], capture_output=True,
                             text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("ats-hook ")
    again = ats("hook", "--write", str(tmp_path))  # over an old copy: replaced whole
    assert again.returncode == 0 and written.read_bytes() == HOOK.read_bytes()


def test_missing_directory_is_bad_input(tmp_path):
    proc = ats("hook", "--write", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"ats: error: {tmp_path / 'nowhere'}: no such directory (create it, or name another)"]
    assert not (tmp_path / "nowhere").exists()


def test_a_place_that_refuses_is_exit_3():
    proc = ats("hook", "--write", "/proc/self")  # procfs never takes a new file, even from root
    assert proc.returncode == 3, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("ats: error: cannot write")
    assert "Traceback" not in proc.stderr
