#!/usr/bin/env python3
"""Measured speed of `ats audit` and `ats patch`; nothing asserted.

1. `ats audit --root` on a synthetic tree of 100,000 files and 1 GB (made
   once under .cache/bench-audit-tree: random blobs with realistic names,
   some PEM bundles, key stores, hash links and SDK metadata among them),
   pinned to one core with taskset; files/s and MB/s. Target: under 10 s.
2. `ats audit --root` on the Debian and Alpine base file systems
   (.cache/bases/*.tar, unpacked to a temp dir), and `ats audit IMAGE` on the
   same bases (docker export included).
3. `ats patch` on each local base: wall time, mode, added layer size.

    scripts/bench_audit.py [--json] [--cold] [--skip-patch] [--runs N]

--cold evicts the tree's file data from the page cache (posix_fadvise, this
tree only; directory metadata stays cached) before each audit run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "src"))
sys.path.insert(0, os.path.join(REPO, "tests"))
TREE = os.path.join(REPO, ".cache", "bench-audit-tree")
BASES = os.path.join(REPO, ".cache", "bases")
FILES, TOTAL = 100_000, 1 << 30
PATCH_BASES = (
    "ats-local/debian-noamazon:bookworm",
    "ats-local/debian-noamazon:trixie",
    "ats-local/debian-bare:bookworm",
    "ats-local/alpine-noamazon:3.23",
    "ats-local/alpine-python-noamazon:3.23",
)
# Realistic names: what image file systems are mostly made of.
KINDS = (
    ("usr/lib/x86_64-linux-gnu", "lib{n}.so.{m}", 40_000),
    ("usr/lib/python3/dist-packages/pkg{d}", "module_{n}.py", 12_000),
    ("usr/lib/python3/dist-packages/pkg{d}/__pycache__", "module_{n}.cpython-311.pyc", 10_000),
    ("srv/app/node_modules/dep{d}/lib", "index_{n}.js", 14_000),
    ("srv/app/node_modules/dep{d}", "package.json", 3_000),
    ("usr/share/locale/l{d}/LC_MESSAGES", "domain{n}.mo", 6_000),
    ("usr/share/doc/pkg{d}", "changelog.Debian.{n}.gz", 6_000),
    ("usr/share/icons/theme/{d}x{d}", "icon{n}.png", 5_000),
    ("opt/app/lib", "library-{n}.jar", 2_000),
    ("usr/bin", "tool{n}", 1_900),
)


def build_tree() -> dict:
    """The synthetic tree, made once; its manifest says what is in it."""
    manifest_path = os.path.join(TREE, ".manifest.json")
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            return json.load(f)
    import audit_plants as plants

    staging = TREE + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    rng = random.Random(20150205)
    blob = os.urandom(32 << 20)
    planted = _plant_stores(staging, plants)
    count = sum(1 for _ in _walk_files(staging))
    # 20 big files (a JDK's modules, a database) hold 40% of the bytes.
    for i in range(20):
        _write(os.path.join(staging, f"opt/data/blob{i}.bin"), _slice(rng, blob, 20 << 20))
    size = sum(os.path.getsize(p) for p in _walk_files(staging))
    budget = (TOTAL - size) // (FILES - count - 20)
    n = 0
    while count + 20 < FILES:
        directory, pattern, _ = rng.choices(KINDS, weights=[k[2] for k in KINDS])[0]
        d, m = rng.randrange(300), rng.randrange(9)
        path = os.path.join(staging, directory.format(d=d), pattern.format(n=n, m=m))
        n += 1
        if os.path.exists(path):
            continue
        _write(path, _slice(rng, blob, max(64, int(rng.expovariate(1 / budget)))))
        count += 1
    files = list(_walk_files(staging))
    manifest = {"files": len(files), "bytes": sum(os.path.getsize(p) for p in files),
                "planted": planted}
    with open(os.path.join(staging, ".manifest.json"), "w") as f:
        json.dump(manifest, f)
    os.rename(staging, TREE)
    return manifest


def _plant_stores(root: str, plants) -> dict:
    """What audit should find in the tree: stores, decoys, SDK metadata."""
    cas = plants.test_cas(12)
    files = {
        "etc/os-release": b"ID=debian\n",
        "etc/ssl/certs/ca-certificates.crt": plants.pem_bundle(cas),
        plants.DEBIAN_JAVA.lstrip("/"): plants.jks_store(cas),
        plants.JDK21_CACERTS.lstrip("/"): plants.p12_truststore(cas),
        plants.PINNED_BUNDLE.lstrip("/"): plants.pem_bundle(cas[:1]),
        "srv/tls/fullchain.pem": plants.leaf_chain(cas[0]),
        "srv/tls/privkey.pem": b"-----BEGIN PRIVATE KEY-----\n" + os.urandom(1200),
        **{k.lstrip("/"): v for k, v in plants.old_sdk_files().items()},
    }
    for i in range(40):  # copies of certifi in many virtualenvs
        files[f"opt/venv{i}/lib/python3.11/site-packages/certifi/cacert.pem"] = (
            plants.pem_bundle(cas) + b"".join(plants.ats_pems()))
    for inner, data in files.items():
        _write(os.path.join(root, inner), data)
    return {"stores": 44, "old_sdks": 5}  # 40 certifi, 2 java, 1 pinned, 1 system


def _slice(rng: random.Random, blob: bytes, size: int) -> bytes:
    size = min(size, len(blob))
    start = rng.randrange(len(blob) - size + 1)
    return blob[start : start + size]


def _write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _walk_files(root: str):
    for dirpath, _, names in os.walk(root):
        for name in names:
            yield os.path.join(dirpath, name)


def evict(root: str) -> None:
    """Drop this tree's file data from the page cache, and nothing else's."""
    for path in _walk_files(root):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def ats(*args) -> tuple[float, dict]:
    """`ats ARGS --json` on one core; (wall seconds, its JSON)."""
    argv = [sys.executable, "-m", "ats_roots", *args, "--json"]
    if shutil.which("taskset"):
        argv = ["taskset", "-c", "0", *argv]
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=REPO)
    wall = time.monotonic() - start
    if not proc.stdout.startswith("{"):
        raise SystemExit(f"ats {' '.join(args)} failed: {proc.stderr.strip()}")
    return wall, json.loads(proc.stdout)


def audit_root_runs(root: str, runs: int, cold: bool) -> dict:
    walls, doc = [], {}
    for _ in range(runs):
        if cold:
            evict(root)
        wall, doc = ats("audit", "--root", root)
        walls.append(wall)
    wall = statistics.median(walls)
    scan = doc["scan"]
    return {
        "wall_s": round(wall, 2), "scan_s": scan["seconds"], "files": scan["files"],
        "mb": round(scan["bytes"] / 1e6, 1), "read_mb": round(scan["read_bytes"] / 1e6, 2),
        "files_per_s": int(scan["files"] / wall), "mb_per_s": round(scan["bytes"] / 1e6 / wall),
        "stores": doc["summary"]["stores"], "old_sdks": doc["summary"]["old_sdks"],
    }


def unpack_base(name: str, dest: str) -> str | None:
    tar_path = os.path.join(BASES, name + ".tar")
    if not os.path.exists(tar_path):
        return None
    root = os.path.join(dest, name)
    os.makedirs(root)
    with tarfile.open(tar_path) as tar:
        members = [m for m in tar.getmembers() if not (m.isdev() or m.isfifo())]
        tar.extractall(root, members=members)  # noqa: S202 - our own base tarball
    return root


def patch_runs(client) -> dict:
    out = {}
    for base in PATCH_BASES:
        try:
            client.images.get(base)
        except Exception:  # noqa: BLE001 - missing base: say so, go on
            out[base] = {"skipped": "image missing: run scripts/build-bases"}
            continue
        tag = f"ats-bench/patched:{uuid.uuid4().hex[:8]}"
        try:
            wall, doc = ats("patch", base, "--tag", tag)
            out[base] = {"wall_s": round(wall, 1), "mode": doc["mode"], "tagged": doc["tagged"],
                         "layers_added": doc["layers_added"],
                         "layer_kib": round(doc["layer_bytes"] / 1024, 1),
                         "layer_files": len(doc["layer_files"]), "phases": doc["phases"]}
        finally:
            with contextlib.suppress(Exception):  # not tagged when patch refused
                client.images.remove(tag)
    return out


def table(results: dict) -> list[str]:
    lines = [f"{'audit --root (taskset -c 0)':34} {'files':>8} {'MB':>7} {'wall s':>7} "
             f"{'files/s':>9} {'MB/s':>7} {'read MB':>8}"]
    for name, r in results["audit_root"].items():
        if "skipped" in r:
            lines.append(f"{name:34} skipped: {r['skipped']}")
            continue
        lines.append(f"{name:34} {r['files']:>8} {r['mb']:>7} {r['wall_s']:>7} "
                     f"{r['files_per_s']:>9} {r['mb_per_s']:>7} {r['read_mb']:>8}")
    lines.append("")
    lines.append(f"{'audit IMAGE (docker export)':34} {'files':>8} {'MB':>7} {'wall s':>7}")
    for name, r in results.get("audit_image", {}).items():
        lines.append(f"{name:34} {r['files']:>8} {r['mb']:>7} {r['wall_s']:>7}")
    if results.get("patch"):
        lines += ["", f"{'patch':38} {'mode':>7} {'wall s':>7} {'layers':>7} {'KiB':>8} "
                      f"{'files':>6}  seconds per step"]
        for name, r in results["patch"].items():
            if "skipped" in r:
                lines.append(f"{name:38} skipped: {r['skipped']}")
                continue
            steps = ", ".join(f"{k} {v}" for k, v in r["phases"].items())
            lines.append(f"{name:38} {r['mode']:>7} {r['wall_s']:>7} {r['layers_added']:>7} "
                         f"{r['layer_kib']:>8} {r['layer_files']:>6}  {steps}")
    load = os.getloadavg()[0]
    lines += ["", f"load average {load:.1f} on {os.cpu_count()} CPUs while measuring"]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--skip-patch", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("building the synthetic tree (once)...", file=sys.stderr, flush=True)
    manifest = build_tree()
    results = {"tree": manifest, "cold": args.cold, "audit_root": {}}
    results["audit_root"]["synthetic 100k files / 1 GB"] = audit_root_runs(
        TREE, args.runs, args.cold)
    with tempfile.TemporaryDirectory(prefix="ats-bench-") as tmp:
        for base in ("debian-bookworm", "alpine-3.23"):
            root = unpack_base(base, tmp)
            results["audit_root"][base] = (audit_root_runs(root, args.runs, args.cold) if root
                                           else {"skipped": "no .cache/bases tarball"})
    try:
        import docker

        client = docker.from_env(timeout=900)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - no engine: the root numbers still stand
        print(f"no Docker Engine ({exc}): image and patch numbers skipped", file=sys.stderr)
        client = None
    if client is not None:
        results["audit_image"] = {}
        for image in ("ats-local/debian:bookworm", "ats-local/alpine:3.23"):
            wall, doc = ats("audit", image)
            results["audit_image"][image] = {"wall_s": round(wall, 2),
                                             "files": doc["scan"]["files"],
                                             "mb": round(doc["scan"]["bytes"] / 1e6, 1)}
        if not args.skip_patch:
            results["patch"] = patch_runs(client)
    results["load_average"] = os.getloadavg()[0]
    print("\n".join(table(results)), file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
