"""One Dockerfile builds every ats-base flavor (images/base/Dockerfile), and it
is ready for a multi-arch buildx build: hadolint passes it as it is and
catches a planted fault, the tool stage runs on the build platform while the
final stage follows the target's, and the labels come from FLAVOR."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "images"
DOCKERFILE = IMAGES / "base" / "Dockerfile"
sys.path.insert(0, str(REPO / "scripts"))
import matrixlib  # noqa: E402


def hadolint(path: Path) -> subprocess.CompletedProcess:
    """The pinned hadolint of the dev venv (a missing one fails: it is a dev tool)."""
    exe = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which(
        "hadolint")
    assert exe, "hadolint not found (pip install -e '.[dev]' installs it)"
    return subprocess.run([exe, "--no-color", str(path)], capture_output=True, text=True,
                          timeout=60, check=False, env={"PATH": os.environ.get("PATH", "")})


def test_one_dockerfile_for_every_flavor():
    flavor_dirs = [d.name for d in IMAGES.iterdir()
                   if (d / "Dockerfile").exists() and d.name in ("debian", "ubuntu", "rhel",
                                                                 "alpine")]
    assert flavor_dirs == []
    assert {r.dockerfile for r in matrixlib.rows()} == {"images/base/Dockerfile"}
    assert {r.flavor for r in matrixlib.rows()} >= {"debian", "alpine", "ubuntu", "rhel"}


def test_base_and_flavor_are_arguments_and_labels_come_from_them():
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG BASE_IMAGE=\S+", text, re.M)
    assert re.search(r"^ARG FLAVOR=\S+", text, re.M)
    assert 'org.opencontainers.image.title="ats-base:${FLAVOR}"' in text
    assert 'io.ats-roots.flavor="${FLAVOR}"' in text
    # no flavor name is written into the recipe itself
    body = [ln for ln in text.splitlines() if not ln.startswith(("#", "ARG"))]
    assert not [ln for ln in body if re.search(r"\b(ubuntu|rhel|alpine)\b", ln)]


def test_tool_stage_runs_on_the_build_platform_final_stage_on_the_target():
    froms = re.findall(r"^FROM .*$", DOCKERFILE.read_text(), re.M)
    assert froms == [
        "FROM ${BASE_IMAGE} AS target",
        "FROM --platform=${TOOL_PLATFORM} ${TOOL_IMAGE} AS tool",
        "FROM ${BASE_IMAGE}",
    ]
    assert "ARG TOOL_PLATFORM=${BUILDPLATFORM:-linux/amd64}" in DOCKERFILE.read_text()


def test_hadolint_clean():
    proc = hadolint(DOCKERFILE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("fault, rule", [
    # the --platform of the tool stage is deliberate and says so; unexplained it is flagged
    ("# hadolint ignore=DL3029\n", "DL3029"),
    # a shell-form RUN with cd, the kind of drift the lint exists for
    ('RUN ["/usr/local/bin/ats-build-stage"', 'RUN cd /rootfs && ls\nRUN ["/usr/local/bin/'
                                              'ats-build-stage"'),
])
def test_hadolint_catches_a_planted_fault(tmp_path, fault, rule):
    """Negative control: the same run fails on a changed copy."""
    text = DOCKERFILE.read_text()
    assert fault in text
    planted = text.replace(fault, "" if fault.startswith("#") else rule, 1)
    (tmp_path / "Dockerfile").write_text(planted)
    proc = hadolint(tmp_path / "Dockerfile")
    assert proc.returncode != 0
    expected = rule if rule.startswith("DL") else "DL3003"
    assert expected in proc.stdout, proc.stdout
