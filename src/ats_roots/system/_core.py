# Python 3.6 grammar (the hook inlines this file): pyproject.toml exempts it from UP.
"""The install core: the one body of code that both `ats install` and the
hook run to add the roots to a trust store, so that a fix lands once.

A plan is data (every file written, every link made, every command run,
the manifest records), made the family's way: one anchor file per
certificate and the family's tool, or, with no tool, appends to what
OpenSSL reads and hash links. apply() carries it out:

Check everything, then change anything: preflight() asks every question
whose answer could refuse the plan (a path that leads nowhere safe, a
read-only or foreign directory, too little space, a tool that cannot run),
then apply() writes every new file as a synced temp file beside its
destination, and only then renames them into place. A refusal before that
point leaves the target byte-identical; a failure after it (a write, the
tool) puts back what was there. Only ever adds. Every change goes through
the target's safepath.Root.

A target is duck-typed: `ats` passes system/target.Target (a root file
system, its tool run by chroot); the hook passes Local() below ('/').
Refusals are Refusal with one line; `ats` makes them exit 3.

Standard library only, Python 3.6 grammar: scripts/gen-hook inlines this
file into the start-time hook, after _portable and safepath, which it lends
to it together with the paths of system/layout.py (the names imported below).
"""

import glob
import os
import re
import stat

if __name__ != "ats_roots_core":  # in the hook these are lent (scripts/gen-hook)
    from ats_roots import _portable
    from ats_roots.system import safepath
    from ats_roots.system.layout import (
        AFTER_INTERRUPTED,
        DEFAULT_OPENSSL_DIR,
        DIRECT_BUNDLE,
        LIBCRYPTO_GLOBS,
        LOCK,
        MANIFEST,
        TOOL_LEFTOVERS,
        TOOL_RUNNING,
    )

SPACE_MARGIN = 1 << 20  # a bundle rewritten needs room for both copies; and some slack
# The environment a target's tool gets: nothing of the caller's (no tokens,
# no proxies, no TMPDIR that only exists on the host).
TOOL_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}


class Refusal(Exception):
    """Why a plan cannot be carried out, in one line; the target is as it was."""


# --- the plan, as data


class Write(object):
    __slots__ = ("path", "data", "why", "mode")

    def __init__(self, path, data, why, mode=0o644):
        self.path = path  # inside the target
        self.data, self.why, self.mode = data, why, mode

    def __eq__(self, other):
        return type(other) is type(self) and all(
            getattr(self, a) == getattr(other, a) for a in self.__slots__
        )

    def __repr__(self):
        return "Write(%r, <%d bytes>, %r)" % (self.path, len(self.data), self.why)


class Link(object):
    __slots__ = ("path", "points_to", "why")

    def __init__(self, path, points_to, why):
        self.path, self.points_to, self.why = path, points_to, why  # path: inside the target

    def __eq__(self, other):
        return type(other) is type(self) and all(
            getattr(self, a) == getattr(other, a) for a in self.__slots__
        )

    def __repr__(self):
        return "Link(%r, %r, %r)" % (self.path, self.points_to, self.why)


class Plan(object):
    """Every change an install or uninstall makes, for --dry-run and apply()."""

    LISTS = ("writes", "links", "removes", "commands", "notes", "manifest", "forget")

    def __init__(self, family, target, **lists):
        self.family, self.target = family, target
        unknown = set(lists) - set(self.LISTS)
        if unknown:
            raise TypeError("Plan: unknown fields %s" % sorted(unknown))
        self.writes = list(lists.get("writes") or [])
        self.links = list(lists.get("links") or [])
        self.removes = list(lists.get("removes") or [])  # inner paths
        self.commands = list(lists.get("commands") or [])  # argv lists
        self.notes = list(lists.get("notes") or [])
        self.manifest = list(lists.get("manifest") or [])  # records to add
        self.forget = list(lists.get("forget") or [])  # paths whose records go

    def replace(self, **changes):
        """A copy with some lists changed (e.g. commands=[])."""
        fields = dict((name, getattr(self, name)) for name in self.LISTS)
        fields.update(changes)
        return Plan(self.family, self.target, **fields)

    @property
    def empty(self):
        return not (self.writes or self.links or self.removes or self.commands)

    def lines(self):
        out = ["family: %s (root %s)" % (self.family, self.target.root)]
        out += ["write %s (%d bytes, %s)" % (w.path, len(w.data), w.why) for w in self.writes]
        out += ["link %s -> %s (%s)" % (k.path, k.points_to, k.why) for k in self.links]
        out += ["remove %s" % r for r in self.removes]
        out += ["run " + " ".join(c) for c in self.commands]
        out += ["note: %s" % n for n in self.notes]
        if self.empty:
            out.append("nothing to do: already in place")
        return out

    def to_json(self):
        return {
            "family": self.family,
            "root": self.target.root,
            "writes": [{"path": w.path, "bytes": len(w.data), "why": w.why} for w in self.writes],
            "links": [{"path": k.path, "to": k.points_to} for k in self.links],
            "removes": list(self.removes),
            "commands": [list(c) for c in self.commands],
            "notes": list(self.notes),
        }


def record(*fields):
    """One manifest line: ('anchor', path, sha), ('append', bundle, sha), ..."""
    return "\t".join(fields)


def read_manifest(target):
    """Records of what earlier installs added: ('anchor', path, sha) and so on."""
    return _manifest_records(target.read(MANIFEST))


def _manifest_records(data):
    if data is None:
        return []
    return [tuple(line.split("\t")) for line in data.decode("utf-8").splitlines() if line]


def manifest_data(plan):
    """The manifest's new bytes, or None when it stays as it is."""
    if not (plan.manifest or plan.forget):
        return None
    old = plan.target.read(MANIFEST)  # once: the records and the comparison
    records = ["\t".join(r) for r in _manifest_records(old)]
    forget = set(plan.forget)
    kept = [r for r in records if r.split("\t")[1] not in forget]
    for line in plan.manifest:
        if line not in kept:
            kept.append(line)
    data = ("\n".join(kept) + "\n").encode() if kept else b""
    return None if old == data else data


# --- which family, and where its OpenSSL reads


def find_tool(target, candidates):
    """The first of candidates that is an executable regular file in target
    (links followed the target's way), or None; for Target and Local alike."""
    for inner in candidates:
        st = target.lstat(target.resolve(inner))
        if st is not None and stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return inner
    return None


def detected_tool(layout, target, ids):
    """The family's tool if layout (a mapping: ids, marker, tools) manages
    target: its os-release IDs match, or its marker is there, and its tool
    exists; else None."""
    marked = bool(layout["marker"]) and target.lstat(layout["marker"]) is not None
    if not (marked or any(i in layout["ids"] for i in ids)):
        return None
    return target.find_tool(layout["tools"])


def detect_family(layouts, target, ids):
    """(layout, tool) the way `ats install` picks, in the order given: the
    first family detected_tool() finds; else (the first whose IDs match, None):
    that family without its tool, the no-tool way; (None, None) if unknown."""
    for layout in layouts:
        tool = detected_tool(layout, target, ids)
        if tool:
            return layout, tool
    for layout in layouts:
        if any(i in layout["ids"] for i in ids):
            return layout, None
    return None, None


# libcrypto carries the string OpenSSL_version(OPENSSL_DIR) returns.
_OPENSSLDIR = re.compile(rb'OPENSSLDIR: "(/[^"\x00]{0,200})"')
_MAX_READ = 32 << 20  # a libcrypto is a few MB; anything larger is not one


def openssl_dir(target, default=None):
    """(OPENSSLDIR, the inner file it was read from) of the target's own
    libcrypto, read from its bytes, never by running it; else (default, or
    /etc/ssl, None)."""
    for inner in _libcrypto_candidates(target):
        found = _openssldir_in(target.path(inner))
        if found:
            return found, inner
    return default or DEFAULT_OPENSSL_DIR, None


def _libcrypto_candidates(target):
    seen = []
    for pattern in LIBCRYPTO_GLOBS:
        for host in sorted(glob.glob(target.path(pattern))):
            inner = target.resolve("/" + os.path.relpath(host, target.root))
            if inner not in seen and not inner.endswith((".hmac", ".sig")):
                seen.append(inner)
    return seen


def _openssldir_in(host):
    # Mapped and searched for the literal, not read and scanned by the regex:
    # a libcrypto is ~5 MB, and this was a tenth of `ats verify`'s start.
    # python3-minimal (Debian's, the hook's) has no mmap: read it there.
    try:
        import mmap
    except ImportError:
        mmap = None
    try:
        if not os.path.isfile(host) or not 0 < os.path.getsize(host) <= _MAX_READ:
            return None
        with open(host, "rb") as f:
            mapped = mmap and mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            data = mapped or f.read()
            try:
                at = data.find(b'OPENSSLDIR: "')
                match = _OPENSSLDIR.match(data, at) if at >= 0 else None
                found = match.group(1) if match else None
            finally:
                if mapped:
                    mapped.close()
    except (OSError, ValueError):
        return None
    return found.decode("ascii", "replace") if found else None


# --- the families' plans


def anchor_plan(plan, target, anchor_dir, suffix, command, certs, trusted):
    """Anchors that are missing or differ, then the tool (command) if anything
    changed, if the compiled store still lacks one of them (trusted: the
    fingerprints it trusts now), or if the tool's last run was cut short: its
    outputs may be half made, and what trusts the roots may be only part of
    them (Debian's hash links are made before its bundle)."""
    for cert in certs:
        inner = "%s/%s%s" % (anchor_dir, cert.slug, suffix)
        plan.manifest.append(record("anchor", inner, cert.sha256))
        if read_host(target.path(target.resolve(inner))) == cert.pem:
            continue
        plan.writes.append(Write(inner, cert.pem, "anchor for %s" % cert.name))
    cut_short = target.fs.lstat(TOOL_RUNNING) is not None
    if plan.writes or cut_short or any(c.sha256 not in trusted for c in certs):
        plan.commands.append(list(command))
    return plan


def notool_bundles(target, openssl_dir):
    """What OpenSSL reads by default and what many programs open directly."""
    seen = []
    for inner in (openssl_dir + "/cert.pem", DIRECT_BUNDLE):
        resolved = target.resolve(inner)
        if resolved not in seen:
            seen.append(resolved)
    return seen


def notool_plan(plan, target, openssl_dir, capath, certs):
    """No tool will compile anchors: append to the bundles (never rewrite
    them; create missing ones) and add the OpenSSL hash links in capath."""
    for bundle in notool_bundles(target, openssl_dir):
        _plan_bundle(plan, target, bundle, certs)
    _plan_hash_dir(plan, target, target.resolve(capath), certs)
    return plan


def _plan_bundle(plan, target, bundle, certs):
    data = read_host(target.path(bundle))
    have = set(sha for _, sha in pem_shas(data))
    missing = [c for c in certs if c.sha256 not in have]
    if not os.path.exists(target.path(bundle)):
        plan.manifest.append(record("create", bundle, "-"))
    for cert in missing:
        plan.manifest.append(record("append", bundle, cert.sha256))
    if missing:
        sep = b"" if not data or data.endswith(b"\n") else b"\n"
        if sep:  # so that uninstall takes it back too
            plan.manifest.append(record("newline", bundle, "-"))
        new = data + sep + b"".join(c.pem for c in missing)
        plan.writes.append(Write(bundle, new, "append %d roots" % len(missing)))


def _plan_hash_dir(plan, target, certs_dir, certs):
    links = _portable.subject_hash_links(target.path(certs_dir))
    for cert in certs:
        h = _portable.subject_hash(cert.der)
        same = sorted(n for n in links if n.startswith(h + "."))
        # Follow the links as the target sees them (Debian's are absolute).
        hosts = [target.path(target.resolve("%s/%s" % (certs_dir, n))) for n in same]
        if any(_fingerprint_at(p) == cert.sha256 for p in hosts):
            continue
        name = cert.slug + ".pem"
        why = "%s for CApath" % cert.name
        plan.writes.append(Write("%s/%s" % (certs_dir, name), cert.pem, why))
        index = 0
        while "%s.%d" % (h, index) in links:
            index += 1
        links.add("%s.%d" % (h, index))
        link = "%s/%s.%d" % (certs_dir, h, index)
        plan.links.append(Link(link, name, "OpenSSL hash link"))
        plan.manifest.append(record("file", "%s/%s" % (certs_dir, name), cert.sha256))
        plan.manifest.append(record("link", link, cert.sha256))


def _fingerprint_at(host_path):
    found = _portable.fingerprints_in(host_path)
    return next(iter(found)) if len(found) == 1 else None


def pem_shas(data):
    """[(pem, sha256 of its DER)] for each certificate in data."""
    return [(pem, _portable.sha256_hex(der)) for pem, der in _portable.pem_blocks(data)]


def read_host(host_path):
    """A file's bytes; b"" when it cannot be read (absent, a directory)."""
    try:
        with open(host_path, "rb") as f:
            return f.read()
    except OSError:
        return b""


# --- the executor


def preflight(plan, also=(), dry_run=False):
    """Every reason to refuse plan (and writing the inner dirs in also), found
    before its first write; raises Refusal with one line, changes nothing.
    dry_run: a command that could not run becomes a note, not a refusal (the
    plan is still worth reading, and the tree may be copied to where it runs)."""
    target = plan.target
    need = {}  # inner dir -> bytes staged there
    for w in plan.writes:
        resolved = target.resolve(w.path)
        st = target.lstat(resolved)
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise Refusal(
                "%s: is %s where ats writes a file; nothing was changed"
                % (target.path(w.path), safepath.kind_of(st.st_mode))
            )
        parent = os.path.dirname(resolved)
        need[parent] = need.get(parent, 0) + len(w.data)
    for inner in [k.path for k in plan.links] + list(plan.removes):
        need.setdefault(target.resolve(os.path.dirname(inner)), 0)
    if plan.manifest or plan.forget:
        need.setdefault(os.path.dirname(target.resolve(MANIFEST)), 4096)
    for inner in also:
        need.setdefault(target.resolve(inner), 0)
    free = {}  # device -> [free bytes, bytes needed, a dir on it]
    for inner_dir, size in sorted(need.items()):
        try:
            device, avail, problem = target.fs.probe_dir(inner_dir)
        except safepath.Refused as exc:
            raise Refusal(str(exc)) from None
        if problem:
            raise Refusal(
                "%s: %s; run as root on a writable file system, or use the hook's "
                "private bundle (ats-hook); nothing was changed" % (target.path(inner_dir), problem)
            )
        entry = free.setdefault(device, [avail, 0, inner_dir])
        entry[1] += size
    for avail, size, inner_dir in free.values():
        if size and avail < size + SPACE_MARGIN:
            raise Refusal(
                "%s: no space left (%d bytes free, ats needs %d); nothing was changed"
                % (target.path(inner_dir), avail, size + SPACE_MARGIN)
            )
    for argv in plan.commands:
        why = target.why_cannot_run(argv)
        if why and dry_run:
            plan.notes.append("install would refuse: %s" % why)
        elif why:
            raise Refusal(why + "; nothing was changed")


def apply(plan, checked=False):
    """Carry out a plan; returns the output of the commands it ran.

    Paths are followed as the target sees them, so an absolute symlink in an
    image never sends a write outside its root. File changes are all or
    nothing: if one fails, those already made are put back as they were; if
    the tool fails, too (the store stays as it was, not half done)."""
    target = plan.target
    fs = target.fs
    if not checked:
        preflight(plan)
    manifest = manifest_data(plan)
    for inner_dir in set(os.path.dirname(target.resolve(w.path)) for w in plan.writes):
        fs.remove_stale_temps(inner_dir)  # a killed run's; installs hold the lock
    created = []
    staged = []
    undo = []
    try:
        try:
            for w in plan.writes:
                staged.append(fs.stage(w.path, w.data, w.mode, created))
            if manifest is not None:
                staged.append(fs.stage(MANIFEST, manifest, 0o644, created))
        except BaseException:
            for s in staged:
                s.discard()
            remove_created(fs, created)
            raise
        for s in staged:
            undo.append(saved(fs, s.inner))
            s.commit()
        for k in plan.links:
            undo.append(saved(fs, k.path))
            fs.symlink(k.path, k.points_to, created)
        for inner in plan.removes:
            undo.append(saved(fs, inner))
            fs.unlink(inner)
    except (OSError, safepath.Refused) as exc:
        for s in staged:
            if s.tmp is not None:
                s.discard()
        restore(fs, undo)
        remove_created(fs, created)
        if isinstance(exc, safepath.Refused):
            raise Refusal(str(exc)) from None
        where = exc.filename2 or exc.filename or target.root  # a rename: its destination
        if _portable.is_readonly_error(exc):
            raise Refusal(
                "%s: %s; run as root on a writable file system, or use the hook's "
                "private bundle (ats-hook)" % (where, exc.strerror)
            ) from None
        raise Refusal("%s: %s; nothing was changed" % (where, exc.strerror)) from None
    try:
        return _run_commands(plan, created) + target.notes
    except Exception:
        # The store stays as it was rather than half done: anchors nobody compiled.
        restore(fs, undo)
        fs.unlink(TOOL_RUNNING)
        remove_created(fs, created)
        raise


def _run_commands(plan, created):
    """The family's tool, marked as running while it runs: a run that finds
    the mark knows the last one died in the tool and says so to the tool."""
    target, fs = plan.target, plan.target.fs
    if not plan.commands:
        return []
    outputs = []
    interrupted = fs.lstat(TOOL_RUNNING) is not None
    if not interrupted:
        fs.replace(TOOL_RUNNING, b"", 0o644, created)
    for n, argv in enumerate(plan.commands):
        for inner in TOOL_LEFTOVERS.get(os.path.basename(argv[0]), ()):
            fs.unlink(target.resolve(inner))  # under the lock: no run of ours is using it
        if interrupted and n == 0:
            argv = list(argv) + list(AFTER_INTERRUPTED.get(plan.family, ()))
        proc = target.run(argv)
        outputs.append((proc.stdout + proc.stderr).strip())
        if proc.returncode != 0:
            raise Refusal(
                "%s failed with exit %d: %s; ats's files were put back"
                % (
                    " ".join(argv),
                    proc.returncode,
                    (proc.stderr.strip().splitlines() or ["no output"])[-1],
                )
            )
    fs.unlink(TOOL_RUNNING)
    return outputs


def saved(fs, inner):
    """What is at inner now (the entry itself), for restore()."""
    st = fs.lstat(inner)
    if st is None:
        return (inner, "absent")
    if stat.S_ISLNK(st.st_mode):
        return (inner, "link", fs.readlink(inner))
    if stat.S_ISREG(st.st_mode):
        return (inner, "file", fs.read(fs.resolve(inner)), stat.S_IMODE(st.st_mode))
    return (inner, "other")


def restore(fs, undo):
    """Put back what saved() recorded, newest first; best effort."""
    for entry in reversed(undo):
        inner, kind = entry[0], entry[1]
        try:
            if kind == "file":
                fs.replace(inner, entry[2], entry[3])
            elif kind in ("link", "absent"):
                st = fs.lstat(inner)
                if st is not None and not stat.S_ISDIR(st.st_mode):
                    fs.unlink(inner)
                if kind == "link":
                    fs.symlink(inner, entry[2])
        except (OSError, safepath.Refused):
            pass


def remove_created(fs, created):
    for inner in reversed(created):
        try:
            if not fs.rmdir(inner):  # the lock file, made for this run
                fs.unlink(inner)
        except (OSError, safepath.Refused):
            pass


class Locked(object):
    """`with Locked(target, timeout) as created:` installs on one root, one at
    a time (parallel builds, a shared volume, the hook and `ats`).

    Check everything, then change anything: the lock's directory is probed
    before the lock file is made, and if the body is refused (an exception
    in refusals: a refusal before the first write, or every change put
    back), what was made for the lock is taken away again, so that a refusal
    leaves the target byte-identical. timeout None: wait for as long as it takes."""

    def __init__(self, target, timeout=None, refusals=(Refusal,)):
        self.target, self.timeout, self.refusals = target, timeout, refusals
        self.created = []
        self.lock = None

    def __enter__(self):
        target = self.target
        preflight(Plan("lock", target), also=(os.path.dirname(LOCK),))
        self.lock = _portable.FileLock(
            target.path(LOCK), timeout=self.timeout, opener=self._open
        )
        try:
            self.lock.__enter__()
        except _portable.LockHeld as exc:
            remove_created(target.fs, self.created)
            raise Refusal(
                "%s: held by %s for more than %g s; wait for it to finish (or stop it), "
                "then run again; nothing was changed" % (target.path(LOCK), exc, self.timeout)
            ) from None
        except OSError as exc:
            remove_created(target.fs, self.created)
            raise Refusal(
                "%s: %s; run as root on a writable file system (or use ats-hook, which "
                "needs neither)" % (target.path(LOCK), exc.strerror)
            ) from None
        return self.created

    def _open(self):
        try:
            return self.target.fs.open_lock(LOCK, self.created)
        except safepath.Refused as exc:
            raise Refusal(str(exc)) from None

    def __exit__(self, kind, exc, tb):
        try:
            if kind is not None and issubclass(kind, self.refusals):
                remove_created(self.target.fs, self.created)
        finally:
            self.lock.__exit__(None, None, None)


# --- this system as a target (the hook's; `ats` has system/target.Target)


class Local(object):
    """'/' as a target, for the hook: the questions Target answers. (Another
    root may be given, for tests of the core under old Pythons; commands then
    cannot run: that is Target's chroot.)"""

    def __init__(self, root="/", timeout=300):
        self.root = os.path.abspath(root)
        self.fs = safepath.Root(self.root)
        self.notes = []
        self.timeout = timeout

    def path(self, inner):
        return inner if self.root == "/" else os.path.join(self.root, inner.lstrip("/"))

    def resolve(self, inner):
        return self.fs.resolve(inner)

    def lstat(self, inner):
        return self.fs.lstat(inner)

    def read(self, inner):
        try:
            return self.fs.read(inner)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def find_tool(self, candidates):
        return find_tool(self, candidates)

    def why_cannot_run(self, argv):
        if self.root != "/":
            return "%s is not this system: its tools run by chroot (ats install --root)" % self.root
        if argv[0].startswith("/") and self.find_tool([argv[0]]) is None:
            return "%s: missing or not executable" % argv[0]
        return None

    def run(self, argv):
        """The tool with TOOL_ENV only, stdin closed, a timeout."""
        why = self.why_cannot_run(argv)
        if why:
            raise Refusal(why)
        import subprocess  # here: only a run needs it (verify and --dry-run run nothing)

        try:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                universal_newlines=True,
                env=dict(TOOL_ENV),
                timeout=self.timeout,
            )
        except subprocess.TimeoutExpired:
            raise Refusal(
                "%s ran longer than %g s; stopped it" % (" ".join(argv), self.timeout)
            ) from None
        except OSError as exc:
            raise Refusal("%s: cannot run (%s)" % (argv[0], exc.strerror)) from None
        return proc
