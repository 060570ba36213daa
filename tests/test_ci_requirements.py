"""CI fails, never skips, when something it must have is missing: every
ATS_REQUIRE_<kind> a test can honour is exported by .ci/run, a test whose
prerequisite is missing fails under it and skips without it, and .ci/run
itself stops when the docker CLI is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from helpers import REPO

CI = REPO / ".ci" / "run"


def kinds_used() -> set[str]:
    text = ""
    for path in [*REPO.glob("tests/**/*.py"), *REPO.glob("scripts/**/*"), REPO / "Makefile"]:
        if path.is_file() and path.name != "test_ci_requirements.py":
            text += path.read_text(encoding="utf-8", errors="replace")
    kinds = set(re.findall(r"ATS_REQUIRE_([A-Z0-9_]+)", text))
    kinds |= set(re.findall(r"\bneed\([^()]*(?:\([^()]*\))?[^()]*,\s*\"([A-Z0-9_]+)\"\)", text))
    return {k for k in kinds if k != "ALL"}


def test_every_requirement_kind_is_exported_by_ci():
    exported = set(re.findall(r"ATS_REQUIRE_([A-Z0-9_]+)=1", CI.read_text()))
    used = kinds_used()
    assert {"DOCKER", "ROOTFS", "OLD_PYTHON", "TOOLS"} <= used
    assert used - exported == set(), "used by tests but not required in .ci/run"


def test_a_missing_prerequisite_fails_under_the_requirement(tmp_path):
    (tmp_path / "test_probe_tool.py").write_text(
        "from helpers import need\n\n"
        "def test_uses_a_tool():\n"
        "    need(False, 'no frobnicate on the host', 'TOOLS')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATS_REQUIRE_")}
    env["PYTHONPATH"] = str(REPO / "tests")
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(tmp_path)]
    local = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout
    ci = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**env, "ATS_REQUIRE_TOOLS": "1"},
    )
    assert ci.returncode == 1 and "1 failed" in ci.stdout, ci.stdout
    assert "ATS_REQUIRE_TOOLS=1 but no frobnicate on the host" in ci.stdout


def test_ci_run_stops_when_docker_is_missing(tmp_path):
    """A PATH with what .ci/run needs to start, but no docker."""
    for tool in ("bash", "dirname", "id", "env"):
        (tmp_path / tool).symlink_to(shutil.which(tool))
    proc = subprocess.run(
        [str(tmp_path / "bash"), str(CI)],
        capture_output=True,
        text=True,
        env={"PATH": str(tmp_path)},
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == ".ci/run: docker CLI missing"
