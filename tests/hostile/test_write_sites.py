"""Nothing in the package writes a path except through the safe-path
primitive: a scan of the source for every way Python writes, renames,
links or removes a file, which fails on any hit outside the modules allowed
below (each with the reason it may)."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "ats_roots"

WRITES = re.compile(
    r"""\bopen\([^)]*['"](?:w|wb|a|ab|x|xb|r\+|rb\+|w\+|wb\+)['"]"""
    r"|\bos\.(?:rename|replace|renames|symlink|link|unlink|remove|removedirs|rmdir|mkdir"
    r"|makedirs|mknod|mkfifo|truncate|chmod|chown|lchown|utime)\("
    r"|\bshutil\.(?:copy\w*|move|rmtree)\("
    r"|\.(?:write_text|write_bytes|touch|symlink_to|hardlink_to)\("
    # Path methods, but not the primitive's own (fs.unlink, tree.dir, ...).
    r"|(?<!fs)\.(?:unlink|rmdir|mkdir|rename)\("
    r"|\batomic_write\("
    r"|\bO_(?:CREAT|WRONLY|RDWR|TRUNC|APPEND)\b"
    r"|\.extract(?:all)?\(",
)

ALLOWED = {
    # The primitive itself: every write under a target goes through it.
    "system/safepath.py": "the one path primitive",
    # Shared with the hook, which acts on its own '/' as root (not a target
    # of ats's): atomic_write and the lock's fallback opener (ats passes
    # safepath's open_lock as the opener).
    "_portable.py": "the hook's own '/' and the lock's opener fallback",
    # `ats fetch-roots --dest DIR`: the user's own output directory.
    "trust/fetch.py": "the user's --dest directory, not a target",
    # `ats hook --write DIR`: the user's own output directory.
    "hook/__init__.py": "the user's --write directory, not a target",
    # The private layer directory itself (0700) before safepath opens it.
    "patch/layer.py": "makes its private layer directory",
    # The sparse copy's top directory, before safepath.Tree opens it.
    "audit/sparse.py": "makes the sparse copy's top directory",
}
# In-memory tars (io.BytesIO) and /dev/null (cli's stdout after a broken pipe) are not files.
IN_MEMORY = re.compile(r"tarfile\.open\(fileobj=|os\.devnull")


def write_sites(source: str) -> list[tuple[int, str]]:
    hits = []
    for number, line in enumerate(source.splitlines(), 1):
        code = line.split("#", 1)[0]
        if WRITES.search(code) and not IN_MEMORY.search(code):
            hits.append((number, line.strip()))
    return hits


def test_only_the_primitive_writes():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in ALLOWED:
            continue
        hits = write_sites(path.read_text(encoding="utf-8"))
        if hits:
            found[rel] = hits
    assert found == {}, "writes outside the safe-path primitive:\n" + "\n".join(
        f"  {rel}:{n}: {line}" for rel, hits in found.items() for n, line in hits
    )


def test_the_allowed_modules_still_need_their_exception():
    """An allowance nobody uses any more is taken away (so the list stays true)."""
    for rel, why in ALLOWED.items():
        assert write_sites((PACKAGE / rel).read_text(encoding="utf-8")), f"{rel}: {why}"


def test_the_scan_catches_each_way_of_writing():
    """Negative control: each of these lines is a write the scan must see."""
    for line in (
        'with open(host, "wb") as f:',
        "os.rename(tmp, path)",
        "os.symlink(points_to, host)",
        "os.makedirs(d, exist_ok=True)",
        "os.unlink(p)",
        "Path(x).write_text('y')",
        "fd = os.open(p, os.O_WRONLY | os.O_CREAT)",
        "tar.extractall(dest)",
        "shutil.copy2(a, b)",
    ):
        assert write_sites(line), line
    assert not write_sites('with open(host, "rb") as f:')
    assert not write_sites('tarfile.open(fileobj=out, mode="w")')
