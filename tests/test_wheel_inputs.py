"""The ats-roots wheel, which every image installs, changes only with the code:
prose (README.md) is not in it, so a README edit rebuilds no image (the image
builds digest the wheel's bytes; scripts/wheelhouse builds it reproducibly)."""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wheel_sha(tree: str, out: str) -> str:
    env = dict(os.environ, SOURCE_DATE_EPOCH="315532800")  # as scripts/wheelhouse
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", out, tree],
                   check=True, env=env, timeout=300)
    (whl,) = glob.glob(os.path.join(out, "ats_roots-*.whl"))
    with open(whl, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_prose_is_not_in_the_wheel(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "LICENSE", "README.md"):
        shutil.copy(os.path.join(REPO, name), tree / name)
    shutil.copytree(os.path.join(REPO, "src"), tree / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    first = wheel_sha(str(tree), str(tmp_path / "w1"))
    with open(tree / "README.md", "a", encoding="utf-8") as f:
        f.write("\nan edit of the prose\n")
    assert wheel_sha(str(tree), str(tmp_path / "w2")) == first
    # negative control: a change to the code is a new wheel
    with open(tree / "src" / "ats_roots" / "errors.py", "a", encoding="utf-8") as f:
        f.write("\n# an edit of the code\n")
    assert wheel_sha(str(tree), str(tmp_path / "w3")) != first
