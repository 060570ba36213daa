"""The Python floor is the one the code really needs (pyproject's
requires-python): every version from it up that this machine has runs real
commands on a real (synthetic) root, and the version below it is refused
with one line."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess

import pytest
from helpers import REPO, synthetic_root

from ats_roots.cli import PYTHON_FLOOR

NEWEST = (3, 13)
CACHE = REPO / ".cache" / "pyfloor"
REQUIRE = os.environ.get("ATS_REQUIRE_OLD_PYTHON") == "1"


def interpreter(minor: int) -> str | None:
    """A real interpreter (pyenv's shims only work for the selected versions)."""
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(f"{pyenv}/versions/3.{minor}.*/bin/python3"))
    found += [
        p
        for p in (f"/usr/bin/python3.{minor}", f"/usr/local/bin/python3.{minor}")
        if os.path.exists(p)
    ]
    if not found:
        if REQUIRE:
            pytest.fail(f"python 3.{minor} is required (ATS_REQUIRE_OLD_PYTHON=1); none found")
        pytest.skip(f"no python 3.{minor} on this machine")
    return found[0]


def site_for(python: str, minor: int) -> str:
    """cryptography for that interpreter, at the locked version, installed once."""
    pin = re.search(r"^cryptography==(\S+)$", (REPO / "requirements-dev.lock").read_text(), re.M)
    dest = CACHE / f"3.{minor}-cryptography-{pin.group(1)}"
    if not dest.is_dir():
        tmp = f"{dest}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "--target",
                tmp,
                f"cryptography=={pin.group(1)}",
            ],
            check=True,
            timeout=300,
        )
        os.rename(tmp, dest)
    return str(dest)


def run(python: str, site: str, *args) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO / 'src'}:{site}", "LC_ALL": "C"}
    return subprocess.run(
        [python, "-m", "ats_roots", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_floor_matches_pyproject():
    text = (REPO / "pyproject.toml").read_text()
    assert f'requires-python = ">={PYTHON_FLOOR[0]}.{PYTHON_FLOOR[1]}"' in text


@pytest.mark.parametrize("minor", range(PYTHON_FLOOR[1], NEWEST[1] + 1))
def test_each_supported_python_installs_and_verifies(tmp_path, minor):
    python = interpreter(minor)
    site = site_for(python, minor)
    roots = run(python, site, "roots", "--json")
    assert roots.returncode == 0 and roots.stdout.count('"sha256"') == 5, roots.stderr
    root = synthetic_root(tmp_path / "root", "ID=scratchy\n")
    before = run(python, site, "verify", "--root", root, "--family", "notool")
    assert before.returncode == 1  # negative control: nothing trusted yet
    if os.geteuid() == 0:
        done = run(python, site, "install", "--root", root, "--family", "notool")
        assert done.returncode == 0, done.stderr
        after = run(python, site, "verify", "--root", root, "--family", "notool")
        assert after.returncode == 0 and after.stdout.count("trusted") == 5, after.stdout


def test_below_the_floor_is_refused_with_one_line():
    minor = PYTHON_FLOOR[1] - 1
    python = interpreter(minor)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [python, "-m", "ats_roots", "roots"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and f"3.{minor} is too old" in proc.stderr
