"""ARCHITECTURE.md and the code agree: every import inside the package (at the
top of a module or inside a function) is an arrow the document's table allows,
and every folder of the package has a row."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from helpers import REPO

PACKAGE = REPO / "src" / "ats_roots"


def allowed_arrows(text: str) -> dict[str, set[str]]:
    """The table in ARCHITECTURE.md: folder -> the layers it may import."""
    rules: dict[str, set[str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        names = [n.strip("/") for n in re.findall(r"`([\w/]+)`", cells[0])]
        may = {n.strip("/") for n in re.findall(r"`([\w/]+)`", cells[1])}
        for name in names:
            rules[name] = {"*"} if cells[1].startswith("everything") else may
    return rules


def layer_of(module: str) -> str:
    """ats_roots.system.families.debian -> system; ats_roots.cli -> cli."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ats_roots"


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported layer) for every import of the package in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            pytest.fail(f"{path}:{node.lineno}: relative import; the package imports absolutely")
        names = []
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ats_roots"):
            if node.module == "ats_roots":  # from ats_roots import errors, __version__
                names = [f"ats_roots.{a.name}" for a in node.names if a.name != "__version__"]
            else:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("ats_roots.")]
        found += [(node.lineno, layer_of(n)) for n in names if layer_of(n) != "ats_roots"]
    return found


def forbidden(rules: dict[str, set[str]], files: dict[str, Path]) -> list[str]:
    bad = []
    for module, path in files.items():
        src = layer_of(module)
        if src in ("ats_roots", "__main__"):
            continue
        if src not in rules:
            bad.append(f"{path}: layer {src!r} has no row in ARCHITECTURE.md")
            continue
        for line, dst in imports_of(path, module):
            if dst != src and "*" not in rules[src] and dst not in rules[src]:
                bad.append(f"{path}:{line}: {src} -> {dst} is not allowed")
    return bad


def package_files() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        out[".".join(rel.parts).removesuffix(".__init__")] = path
    return out


def test_imports_obey_architecture_md():
    rules = allowed_arrows((REPO / "ARCHITECTURE.md").read_text(encoding="utf-8"))
    assert {"trust", "system", "audit", "patch", "cli"} <= set(rules)
    assert forbidden(rules, package_files()) == []


def test_a_forbidden_arrow_is_caught(tmp_path):
    """Negative control: trust importing audit (inside a function) is named."""
    rules = allowed_arrows((REPO / "ARCHITECTURE.md").read_text(encoding="utf-8"))
    fake = tmp_path / "bad.py"
    fake.write_text("def f():\n    from ats_roots.audit.scan import audit_target\n")
    bad = forbidden(rules, {"ats_roots.trust.bad": fake})
    assert len(bad) == 1 and "trust -> audit is not allowed" in bad[0]


def test_every_package_folder_has_a_paragraph():
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    missing = [f for f in folders if f"**`{f}/`**" not in text]
    assert folders and missing == []
