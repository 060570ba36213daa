# ruff: noqa: UP031, SIM105 - Python 3.6 grammar (the hook inlines this file)
"""The one way ats touches a path under a target it does not trust.

A target (`--root DIR`, an image's sparse copy, the patch layer, the hook's
private directory) is a tree someone else built: any directory in it may be
a symlink, to `/etc` of the host or to itself. So every file ats reads,
creates, replaces, links or removes there is reached by walking the path one
component at a time from a directory file descriptor of the top, with
O_NOFOLLOW at each step, and every change is made relative to the file
descriptor of the directory the walk ended in. Nothing here ever hands a
host path string to open(), rename() or unlink().

Symlinks are resolved as the target sees them (as chroot would): an
absolute link starts again at the top of the target, a relative one from
its directory, so ats sees the files the target's own programs see and no
link can climb out. Refused, with one line naming the path and the link:
  - a `..` past the top (chroot would quietly stay at the top; a link that
    climbs out was made for another tree, or aims at the host: neither
    names a file of this target's, so ats neither reads nor writes there),
  - a loop (the walk comes back to the same link with the same rest),
  - more than MAX_HOPS links (the kernel's own limit, 40),
  - a component in the middle that is not a directory,
  - a FIFO, device or socket where a regular file is expected.

Reads of whole files use openat2(RESOLVE_BENEATH) when the kernel and
ctypes have it (one system call instead of one per component); it fails
(EXDEV) on an absolute link and on a `..` past the top. Then resolve(),
which knows its depth, names the file the target's way or refuses the
climb, and that name is opened with RESOLVE_NO_SYMLINKS (a link made in
between fails, and the walk decides). The walk is also the fallback where
there is no openat2, and every write always walks (it needs the directory
file descriptor and the names of what it created). `openat2_used()` says
which this machine uses.

Standard library only, Python 3.6 grammar: scripts/gen-hook inlines this
file into the start-time hook, which uses it for its private directory.
"""

import errno
import os
import stat

MAX_HOPS = 40
TEMP_PREFIX = ".ats-tmp-"
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class Refused(Exception):
    """A path the target's layout makes unsafe; str() is the one line to print."""


def kind_of(mode):
    """'a FIFO', 'a directory', ... for a message; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _split(inner):
    return [p for p in inner.split("/") if p and p != "."]


class _Up(str):
    """A `..` read from a link: the link is named if it climbs past the top."""


def _link_parts(where, points_to):
    parts = _split(points_to)
    for i, part in enumerate(parts):
        if part == "..":
            parts[i] = _Up(part)
            parts[i].link = (where, points_to)
    return parts


class Spot:
    """Where a walk ended: an open directory (fd), the target's names for it
    and the last name there; missing: names below the deepest directory that
    exists (then fd is that directory, and name is not in it)."""

    __slots__ = ("fd", "names", "name", "missing")

    def __init__(self, fd, names, name, missing):
        self.fd, self.names, self.name, self.missing = fd, names, name, missing

    @property
    def inner(self):
        parts = self.names + self.missing + ([self.name] if self.name else [])
        return "/" + "/".join(parts)


class Root:
    """A directory ats acts under; paths given to its methods are inside it."""

    def __init__(self, path, follow=True):
        """follow=False: a tree ats assembles itself (the patch layer, the
        sparse copy of an image), where a symlink is a record to keep, never
        a way to go: a path through one is refused, and a change to a link
        replaces the link itself."""
        self.path = os.path.abspath(path)
        self.follow = follow
        self._dirs = set()  # inner paths seen to be real directories (resolve())
        # The top itself is the caller's choice (a --root given as a link is fine).
        self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def host(self, inner):
        """The host path of an inner path, for messages only."""
        return os.path.join(self.path, inner.lstrip("/"))

    # --- the walk

    def _walk(self, inner, follow_last=True, create=False, created=None, virtual=False):
        """Resolve inner; returns a Spot whose fd the caller must release().

        create: make missing directories on the way (mode 0755), appending
        their inner paths to created. virtual: a missing directory is not an
        error; what follows it is only named (resolve() uses this)."""
        parts = _split(inner)
        parts.reverse()  # popped from the end
        stack = [self.fd]
        names = []
        missing = []
        hops = 0
        seen = set()
        via = None  # the last link followed, for messages
        try:
            while parts:
                part = parts.pop()
                if part == "..":
                    if missing:
                        missing.pop()
                    elif names:
                        os.close(stack.pop())
                        names.pop()
                    else:
                        raise Refused(_past_the_top(self.host(inner), part))
                    continue
                if missing:
                    missing.append(part)
                    continue
                last = not parts
                if last and not follow_last:
                    return self._spot(stack, names, part, missing)
                try:
                    st = os.stat(part, dir_fd=stack[-1], follow_symlinks=False)
                except FileNotFoundError:
                    if last:
                        return self._spot(stack, names, part, missing)
                    if create:
                        _mkdir_at(stack[-1], part)
                        if created is not None:
                            created.append("/" + "/".join(names + [part]))
                        st = None
                    elif virtual:
                        missing.append(part)
                        continue
                    else:
                        raise
                if st is not None and stat.S_ISLNK(st.st_mode):
                    where = "/" + "/".join(names + [part])
                    points_to = os.readlink(part, dir_fd=stack[-1])
                    if not self.follow:
                        if last:  # the entry itself: changes replace the link
                            return self._spot(stack, names, part, missing)
                        raise Refused(
                            "%s: %s is a symbolic link (-> %s) recorded from the image; "
                            "ats never writes through one" % (self.host(inner), where, points_to)
                        )
                    state = (where, tuple(parts))
                    if state in seen:
                        raise Refused(
                            "%s: symbolic link loop at %s -> %s"
                            % (self.host(inner), where, points_to)
                        )
                    seen.add(state)
                    hops += 1
                    if hops > MAX_HOPS:
                        raise Refused(
                            "%s: more than %d symbolic links to follow (the last %s -> %s)"
                            % (self.host(inner), MAX_HOPS, where, points_to)
                        )
                    via = (where, points_to)
                    if points_to.startswith("/"):
                        while len(stack) > 1:
                            os.close(stack.pop())
                        del names[:]
                    parts.extend(reversed(_link_parts(where, points_to)))
                    continue
                if last:
                    if virtual and st is not None and _special(st.st_mode):
                        # resolve(): every caller reads or writes what it names.
                        raise Refused(
                            "%s: is %s, not a regular file%s"
                            % (self.host(inner), kind_of(st.st_mode), _reached(via))
                        )
                    return self._spot(stack, names, part, missing)
                if st is not None and not stat.S_ISDIR(st.st_mode):
                    raise Refused(
                        "%s: %s is %s, not a directory%s"
                        % (
                            self.host(inner),
                            "/" + "/".join(names + [part]),
                            kind_of(st.st_mode) or "a file",
                            _reached(via),
                        )
                    )
                try:
                    stack.append(os.open(part, _O_DIR, dir_fd=stack[-1]))
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # swapped since the stat
                        raise Refused(
                            "%s: %s changed while ats walked it"
                            % (self.host(inner), "/" + "/".join(names + [part]))
                        ) from None
                    raise
                names.append(part)
            return self._spot(stack, names, None, missing)
        except BaseException:
            for fd in stack[1:]:
                os.close(fd)
            raise

    def _spot(self, stack, names, name, missing):
        """(With missing parts, fd is the deepest directory that exists.)"""
        for fd in stack[1:-1]:
            os.close(fd)
        return Spot(stack[-1], names, name, missing)

    def release(self, spot):
        if spot.fd is not None and spot.fd != self.fd:
            os.close(spot.fd)
        spot.fd = None

    def _at(self, inner, follow_last=True, create=False, created=None):
        """A Spot with a real directory and a last name, for the operations."""
        spot = self._walk(inner, follow_last, create, created)
        if spot.name is None:
            self.release(spot)
            raise Refused("%s: names a directory, not an entry in one" % self.host(inner))
        return spot

    # --- questions

    def resolve(self, inner, follow_last=True):
        """inner as the target sees it: no symlink left in it (missing parts kept).

        A name only: the same rules as the walk (and the same refusals), by
        lstat of host paths whose directories it has already seen to be real
        directories, remembered for the next call (audit resolves thousands
        of paths under the same few). Nothing is opened through the name it
        returns: reads and writes walk again, by fd."""
        parts = _split(inner)
        parts.reverse()
        names, missing = [], []
        hops, seen, via = 0, set(), None
        while parts:
            part = parts.pop()
            if part == "..":
                if missing:
                    missing.pop()
                elif names:
                    names.pop()
                else:
                    raise Refused(_past_the_top(self.host(inner), part))
                continue
            if missing:
                missing.append(part)
                continue
            last = not parts
            where = "/" + "/".join(names + [part])
            if (last and not follow_last) or (not last and where in self._dirs):
                names.append(part)
                continue
            try:
                st = os.lstat(self.path + where)
            except FileNotFoundError:
                (names if last else missing).append(part)
                continue
            if stat.S_ISLNK(st.st_mode) and self.follow:
                points_to = os.readlink(self.path + where)
                state = (where, tuple(parts))
                if state in seen:
                    raise Refused(
                        "%s: symbolic link loop at %s -> %s" % (self.host(inner), where, points_to)
                    )
                seen.add(state)
                hops += 1
                if hops > MAX_HOPS:
                    raise Refused(
                        "%s: more than %d symbolic links to follow (the last %s -> %s)"
                        % (self.host(inner), MAX_HOPS, where, points_to)
                    )
                via = (where, points_to)
                if points_to.startswith("/"):
                    del names[:]
                parts.extend(reversed(_link_parts(where, points_to)))
                continue
            if last:
                if _special(st.st_mode):  # every caller reads or writes what it names
                    raise Refused(
                        "%s: is %s, not a regular file%s"
                        % (self.host(inner), kind_of(st.st_mode), _reached(via))
                    )
                names.append(part)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise Refused(
                    "%s: %s is %s, not a directory%s"
                    % (self.host(inner), where, kind_of(st.st_mode) or "a file", _reached(via))
                )
            self._dirs.add(where)
            names.append(part)
        return "/" + "/".join(names + missing)

    def lstat(self, inner):
        """os.lstat of the entry itself (its directory resolved); None if absent."""
        spot = self._walk(inner, follow_last=False, virtual=True)
        try:
            if spot.missing:
                return None
            if spot.name is None:
                return os.fstat(spot.fd)
            try:
                return os.stat(spot.name, dir_fd=spot.fd, follow_symlinks=False)
            except FileNotFoundError:
                return None
        finally:
            self.release(spot)

    def readlink(self, inner):
        spot = self._at(inner, follow_last=False)
        try:
            return os.readlink(spot.name, dir_fd=spot.fd)
        finally:
            self.release(spot)

    def listdir(self, inner):
        spot = self._walk(inner)
        try:
            if spot.name is None:
                return os.listdir(spot.fd)
            fd = os.open(spot.name, _O_DIR, dir_fd=spot.fd)
            try:
                return os.listdir(fd)
            finally:
                os.close(fd)
        finally:
            self.release(spot)

    def read(self, inner, limit=None):
        """The bytes of a regular file, following links inside the target.

        FileNotFoundError if absent, IsADirectoryError for a directory,
        Refused for a FIFO, device or socket (never opened blocking)."""
        fd = _openat2_read(self.fd, inner) if self.follow else None
        if fd is None and self.follow and openat2_used():
            # An absolute link (Debian's hash links all are one) or a climb:
            # name the file the target's way (resolve() refuses what the walk
            # would and remembers the directories it has seen), then open that
            # name with no link allowed in it. A link made since fails, and the
            # walk below decides.
            fd = _openat2_read(self.fd, self.resolve(inner), no_links=True)
        if fd is None:
            spot = self._at(inner)
            try:
                fd = os.open(spot.name, _O_READ, dir_fd=spot.fd)
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # became a link since the walk
                    raise Refused("%s: changed while ats read it" % self.host(inner)) from None
                raise
            finally:
                self.release(spot)
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory", self.host(inner))
            if not stat.S_ISREG(st.st_mode):
                raise Refused(
                    "%s: is %s, not a regular file" % (self.host(inner), kind_of(st.st_mode))
                )
            chunks = []
            left = st.st_size if limit is None else min(st.st_size, limit)
            while True:
                chunk = os.read(fd, max(left, 1 << 16))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
                if limit is not None and sum(len(c) for c in chunks) >= limit:
                    break
            return b"".join(chunks)
        finally:
            os.close(fd)

    def probe_dir(self, inner_dir):
        """(device, free bytes, problem or None) for writing in inner_dir, or
        in the deepest directory above it that exists (where ats would create
        the rest). Asked before the first write; changes nothing."""
        spot = self._walk(inner_dir, virtual=True)
        fd = spot.fd
        try:
            if not spot.missing and spot.name is not None:
                try:
                    fd = os.open(spot.name, _O_DIR, dir_fd=spot.fd)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                        raise Refused("%s: is not a directory" % self.host(inner_dir)) from None
                    raise
            st, vfs = os.fstat(fd), os.fstatvfs(fd)
            problem = None
            if vfs.f_flag & os.ST_RDONLY:
                problem = "Read-only file system"
            elif not _may_write(st):
                problem = "Permission denied (not root, and not this user's directory)"
            return st.st_dev, vfs.f_bavail * vfs.f_frsize, problem
        finally:
            if fd != spot.fd:
                os.close(fd)
            self.release(spot)

    # --- changes

    def replace(self, inner, data, mode=0o644, created=None, sync=True):
        """Atomically make inner (links followed) a regular file holding data.

        A temp file in the same directory, fsync, rename over, fsync the
        directory: readers see the old file or the new one. Missing parent
        directories are made (their paths appended to created). Returns the
        inner path written."""
        spot = self._at(inner, create=True, created=created)
        try:
            _refuse_non_file(self, spot, inner)
            tmp = _temp_at(spot.fd, data, mode, sync)
            try:
                os.rename(tmp, spot.name, src_dir_fd=spot.fd, dst_dir_fd=spot.fd)
            except BaseException:
                _unlink_quiet(spot.fd, tmp)
                raise
            if sync:
                _fsync(spot.fd)
            return spot.inner
        finally:
            self.release(spot)

    def stage(self, inner, data, mode=0o644, created=None):
        """The first half of replace(): the temp file, written and synced, not
        yet renamed. Returns a Staged to commit() or discard()."""
        spot = self._at(inner, create=True, created=created)
        try:
            _refuse_non_file(self, spot, inner)
            tmp = _temp_at(spot.fd, data, mode, True)
        except BaseException:
            self.release(spot)
            raise
        return Staged(self, spot, tmp)

    def makedirs(self, inner, mode=0o755, created=None):
        """inner (links followed) as a directory, made with its parents if missing."""
        spot = self._walk(inner, create=True, created=created)
        try:
            if spot.name is None:
                return spot.inner
            try:
                _mkdir_at(spot.fd, spot.name, mode)
                if created is not None:
                    created.append(spot.inner)
            except FileExistsError:
                st = os.stat(spot.name, dir_fd=spot.fd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    raise Refused(
                        "%s: is %s, not a directory" % (self.host(inner), kind_of(st.st_mode))
                    ) from None
            return spot.inner
        finally:
            self.release(spot)

    def symlink(self, inner, points_to, created=None):
        """inner itself (not followed) becomes a link to points_to, atomically."""
        spot = self._at(inner, follow_last=False, create=True, created=created)
        try:
            try:
                st = os.stat(spot.name, dir_fd=spot.fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    raise Refused("%s: is a directory, not a link" % self.host(inner))
            except FileNotFoundError:
                pass
            tmp = _temp_name()
            os.symlink(points_to, tmp, dir_fd=spot.fd)
            try:
                os.rename(tmp, spot.name, src_dir_fd=spot.fd, dst_dir_fd=spot.fd)
            except BaseException:
                _unlink_quiet(spot.fd, tmp)
                raise
            _fsync(spot.fd)
        finally:
            self.release(spot)

    def unlink(self, inner):
        """Remove inner itself (a file or link, never followed); False if absent."""
        return self._remove(inner, os.unlink, (errno.ENOENT,), sync=True)

    def rmdir(self, inner):
        """Remove an empty directory (undo of makedirs); False if absent or not empty."""
        quiet = (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR)
        return self._remove(inner, os.rmdir, quiet, sync=False)

    def _remove(self, inner, op, quiet, sync):
        """op (os.unlink or os.rmdir) on inner itself, relative to its
        directory's fd; False if absent or op fails with an errno in quiet."""
        spot = self._walk(inner, follow_last=False, virtual=True)
        try:
            if spot.missing or spot.name is None:
                return False
            try:
                op(spot.name, dir_fd=spot.fd)
            except OSError as exc:
                if exc.errno in quiet:
                    return False
                raise
            if sync:
                _fsync(spot.fd)
            return True
        finally:
            self.release(spot)

    def rename(self, inner, new_name):
        """Rename an entry (not followed) to another name in its directory."""
        if "/" in new_name:
            raise ValueError("new_name is a name, not a path")
        spot = self._at(inner, follow_last=False)
        try:
            os.rename(spot.name, new_name, src_dir_fd=spot.fd, dst_dir_fd=spot.fd)
            _fsync(spot.fd)
        finally:
            self.release(spot)

    def mknod(self, inner, mode, device):
        spot = self._at(inner, follow_last=False)
        try:
            os.mknod(spot.name, mode, device, dir_fd=spot.fd)
        finally:
            self.release(spot)

    def create_empty(self, inner, mode=0o666):
        """A new empty regular file; FileExistsError if anything is there."""
        spot = self._at(inner, follow_last=False)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _cloexec()
            os.close(os.open(spot.name, flags, mode, dir_fd=spot.fd))
        finally:
            self.release(spot)

    def open_writable(self, inner):
        """An fd open for writing on an existing regular file or device (never
        created, truncated or followed past the target); None if that fails."""
        try:
            spot = self._at(inner)
        except (OSError, Refused):
            return None
        try:
            fd = os.open(spot.name, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _cloexec(),
                         dir_fd=spot.fd)
        except OSError:
            return None
        finally:
            self.release(spot)
        return fd

    def open_lock(self, inner, created=None):
        """An fd for an flock: the lock file, made (with its directory) if
        missing, refused unless it is a regular file."""
        spot = self._at(inner, create=True, created=created)
        try:
            flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | _cloexec()
            try:
                fd = os.open(spot.name, flags, dir_fd=spot.fd)
            except FileNotFoundError:
                try:
                    fd = os.open(spot.name, flags | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=spot.fd)
                    if created is not None:
                        created.append(spot.inner)
                except FileExistsError:  # another install made it just now
                    fd = os.open(spot.name, flags, dir_fd=spot.fd)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise Refused(
                        "%s: is a symbolic link, not a lock file" % self.host(inner)
                    ) from None
                raise
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                raise Refused(
                    "%s: is %s, not a lock file" % (self.host(inner), kind_of(st.st_mode))
                )
            return fd
        finally:
            self.release(spot)

    def remove_stale_temps(self, inner_dir):
        """Temp files a killed run of ats left in a directory (call under the lock)."""
        try:
            spot = self._walk(inner_dir)
        except (OSError, Refused):
            return []
        removed = []
        try:
            if spot.missing:
                return removed
            fd = spot.fd if spot.name is None else os.open(spot.name, _O_DIR, dir_fd=spot.fd)
            try:
                for name in os.listdir(fd):
                    if name.startswith(TEMP_PREFIX):
                        _unlink_quiet(fd, name)
                        removed.append(name)
            finally:
                if fd != spot.fd:
                    os.close(fd)
        except OSError:
            pass
        finally:
            self.release(spot)
        return removed


class Tree:
    """A tree ats fills itself from entries it does not trust (an image's
    export): every directory is one ats made, kept open by fd, so an entry
    costs a system call or two; nothing in it is ever followed. A link
    recorded at a path makes every entry below that path refused."""

    MAX_OPEN = 256  # directory fds kept; the rest are opened again when needed

    def __init__(self, path):
        self.root = Root(path, follow=False)
        self.dirs = {"": self.root.fd}

    def close(self):
        for key, fd in self.dirs.items():
            if key:
                os.close(fd)
        self.dirs = {}
        self.root.close()

    def dir(self, inner_dir, mode=0o755):
        """An fd of inner_dir, made (with its parents) if missing."""
        key = inner_dir.strip("/")
        fd = self.dirs.get(key)
        if fd is not None:
            return fd
        parent, _, name = key.rpartition("/")
        parent_fd = self.dir(parent)
        try:
            os.mkdir(name, mode, dir_fd=parent_fd)
        except FileExistsError:
            pass
        try:
            fd = os.open(name, _O_DIR, dir_fd=parent_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                kind = kind_of(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode)
                raise Refused(
                    "%s: /%s is %s in the image, not a directory; ats never writes "
                    "through one" % (self.root.host(key), key, kind or "a file")
                ) from None
            raise
        if len(self.dirs) > self.MAX_OPEN:
            oldest = next(k for k in self.dirs if k)
            os.close(self.dirs.pop(oldest))
        self.dirs[key] = fd
        return fd

    def _place(self, inner):
        parent, _, name = inner.strip("/").rpartition("/")
        if not name or name in (".", ".."):
            raise Refused("%s: not a name ats can place" % self.root.host(inner))
        return self.dir(parent), name

    def file(self, inner, data, mode=0o644):
        """A regular file (an existing one at that name, never a link, replaced)."""
        dir_fd, name = self._place(inner)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | _cloexec()
        try:
            fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR):
                raise Refused(
                    "%s: a link or directory is already there" % self.root.host(inner)
                ) from None
            raise
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
        finally:
            os.close(fd)

    def symlink(self, inner, points_to):
        dir_fd, name = self._place(inner)
        os.symlink(points_to, name, dir_fd=dir_fd)

    def hardlink(self, source_inner, inner):
        """inner as another name of a regular file ats placed at source_inner."""
        src_fd, src_name = self._place(source_inner)
        st = os.stat(src_name, dir_fd=src_fd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise Refused("%s: not a regular file to link to" % self.root.host(source_inner))
        dir_fd, name = self._place(inner)
        os.link(src_name, name, src_dir_fd=src_fd, dst_dir_fd=dir_fd, follow_symlinks=False)

    def chmod_dir(self, inner_dir, mode):
        os.fchmod(self.dir(inner_dir), mode)


class Staged:
    """A temp file written next to its destination, waiting for commit()."""

    def __init__(self, root, spot, tmp):
        self.root, self.spot, self.tmp = root, spot, tmp
        self.inner = spot.inner

    def commit(self):
        try:
            os.rename(self.tmp, self.spot.name, src_dir_fd=self.spot.fd, dst_dir_fd=self.spot.fd)
            _fsync(self.spot.fd)
        finally:
            self.tmp = None
            self.root.release(self.spot)

    def discard(self):
        if self.tmp is not None and self.spot.fd is not None:
            _unlink_quiet(self.spot.fd, self.tmp)
        self.tmp = None
        self.root.release(self.spot)


def _special(mode):
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode))


def _may_write(st):
    """May this process add entries to a directory with this stat?"""
    euid = os.geteuid()
    if euid == 0:
        return True
    if st.st_uid == euid:
        return bool(st.st_mode & 0o200)
    if st.st_gid == os.getegid() or st.st_gid in os.getgroups():
        return bool(st.st_mode & 0o020)
    return bool(st.st_mode & 0o002)


def _cloexec():
    return getattr(os, "O_CLOEXEC", 0)


def _reached(via):
    return " (reached through the link %s -> %s)" % via if via else ""


def _past_the_top(host_path, part):
    link = getattr(part, "link", None)
    if link:
        return "%s: the link %s -> %s climbs past the top of the target" % ((host_path,) + link)
    return "%s: `..` climbs past the top of the target" % host_path


def _mkdir_at(dir_fd, name, mode=0o755):
    os.mkdir(name, mode, dir_fd=dir_fd)
    # The image's umask is not ours: the mode asked for, exactly.
    fd = os.open(name, _O_DIR, dir_fd=dir_fd)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _refuse_non_file(root, spot, inner):
    try:
        st = os.stat(spot.name, dir_fd=spot.fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) and not root.follow:
        return  # a recorded link: the rename replaces it
    if not stat.S_ISREG(st.st_mode):
        raise Refused(
            "%s: is %s where ats writes a file; nothing was changed"
            % (root.host(inner), kind_of(st.st_mode))
        )


def _temp_name():
    return TEMP_PREFIX + "%d-%s" % (os.getpid(), os.urandom(4).hex())


def _temp_at(dir_fd, data, mode, sync):
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _cloexec()
    for _ in range(10):
        tmp = _temp_name()
        try:
            fd = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "no unused temporary name")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quiet(dir_fd, tmp)
        raise
    return tmp


def _unlink_quiet(dir_fd, name):
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _fsync(fd):
    try:
        os.fsync(fd)
    except OSError:
        pass


# --- openat2(2), through ctypes when both the kernel and the Python have it.

_OPENAT2 = []  # [] not probed yet, [None] unavailable, [function]
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08


def _load_openat2():
    if os.environ.get("ATS_NO_OPENAT2"):  # the fallback, for tests and benchmarks
        return None
    try:
        import ctypes
    except ImportError:  # python3-minimal has no ctypes
        return None
    numbers = {"x86_64": 437, "aarch64": 437, "armv7l": 437, "ppc64le": 437, "s390x": 437}
    number = numbers.get(os.uname().machine)
    if number is None:
        return None

    class OpenHow(ctypes.Structure):
        _fields_ = [
            ("flags", ctypes.c_uint64),
            ("mode", ctypes.c_uint64),
            ("resolve", ctypes.c_uint64),
        ]

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long

    def openat2(dir_fd, path, flags, resolve):
        how = OpenHow(flags, 0, resolve)
        fd = syscall(
            ctypes.c_long(number),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(os.fsencode(path)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
        return fd

    top = os.open("/", _O_DIR)
    try:  # the kernel may lack it (ENOSYS) or a seccomp filter may deny it
        os.close(openat2(top, ".", _O_DIR, _RESOLVE_BENEATH))
    except OSError:
        return None
    finally:
        os.close(top)
    return openat2


def openat2_used():
    if not _OPENAT2:
        _OPENAT2.append(_load_openat2())
    return _OPENAT2[0] is not None


def _openat2_read(root_fd, inner, no_links=False):
    """An fd for reading inner, resolved by the kernel inside root_fd; None to
    make the caller walk (no openat2 here, or a case the walk must name).
    no_links: inner is already resolved; any link met in it fails."""
    if not openat2_used():
        return None
    resolve = _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS
    resolve |= _RESOLVE_NO_SYMLINKS if no_links else 0
    try:
        # Without O_NOFOLLOW: the last link is followed too, beneath the root.
        flags = _O_READ & ~os.O_NOFOLLOW
        return _OPENAT2[0](root_fd, inner.lstrip("/") or ".", flags, resolve)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", inner) from None
        # EXDEV (an absolute link, or a `..` past the top), ELOOP, ENOTDIR, ...:
        # the walk follows the one the target's way, or says which link and where.
        return None
