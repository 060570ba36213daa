/*
 * /ats/ats-hook: start the hook with the CPython bundled beside it.
 *
 * Why a static program and not a "#!" line: the bundle must run in images
 * with no shell and no libc of their own (FROM scratch), so nothing in the
 * image may be needed to start it. The bundled CPython is a musl build, run
 * through its own musl loader (BUNDLE/lib/ld-musl-ARCH.so.1) so that the
 * image's /lib is never consulted; a "#!" line cannot name that loader with
 * the arguments it needs (--library-path), portably. This program only
 * computes the bundle's paths and execs the loader: no allocation, no
 * writes, no environment change, so nothing of it reaches CMD.
 *
 *   BUNDLE/lib/ld-musl-ARCH.so.1 --library-path BUNDLE/lib
 *       BUNDLE/bin/python3 -I -S -B BUNDLE/ats-hook.pyc ARGS...
 *
 * -I: no PYTHON* variable, user site or script directory changes what runs;
 * -S: no site module (the hook needs none, and it is faster); -B: never
 * write bytecode (the bundle is mounted read-only anyway). ats-hook.pyc is
 * ats-hook.py compiled at build time: Python never caches a script's bytecode.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#ifndef LOADER
#error "build with -DLOADER='\"ld-musl-x86_64.so.1\"' (the loader's file name)"
#endif
#define DEFAULT_BUNDLE "/ats"
#define FIXED_ARGS 8
#define MAX_ARGS 4096

static void say(const char *a, const char *b, const char *c)
{
    /* One line on stderr, as every ats-hook error: write(2), no stdio. */
    const char *parts[] = {"ats-hook: error: ", a, b, c, "\n"};
    for (unsigned i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (parts[i] && write(2, parts[i], strlen(parts[i])) < 0)
            return;
}

static int join(char *out, size_t size, const char *dir, const char *name)
{
    size_t d = strlen(dir), n = strlen(name);
    if (d + 1 + n + 1 > size)
        return -1;
    memcpy(out, dir, d);
    out[d] = '/';
    memcpy(out + d + 1, name, n + 1);
    return 0;
}

int main(int argc, char **argv)
{
    static char self[PATH_MAX], loader[PATH_MAX], libs[PATH_MAX], python[PATH_MAX],
        script[PATH_MAX];
    static char *args[FIXED_ARGS + MAX_ARGS + 1];
    /* Where am I? /proc/self/exe follows the mount (the bundle may be at any
     * path); without /proc, the conventional /ats. */
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    char *slash;
    if (n > 0) {
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash == self)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
    } else {
        strcpy(self, DEFAULT_BUNDLE);
    }
    if (join(loader, sizeof loader, self, "lib/" LOADER) || join(libs, sizeof libs, self, "lib")
        || join(python, sizeof python, self, "bin/python3")
        || join(script, sizeof script, self, "ats-hook.pyc")) {
        say("bundle path too long: ", self, 0);
        return 3;
    }
    if (argc - 1 > MAX_ARGS) {
        say("too many arguments", 0, 0);
        return 2;
    }
    char **a = args;
    *a++ = loader;
    *a++ = "--library-path";
    *a++ = libs;
    *a++ = python;
    *a++ = "-I";
    *a++ = "-S";
    *a++ = "-B";
    *a++ = script;
    for (int i = 1; i < argc; i++)
        *a++ = argv[i];
    *a = 0;
    execv(loader, args);
    int missing = errno == ENOENT;
    say("cannot start the bundled Python ", loader, missing ? ": not found" : ": exec failed");
    return missing ? 127 : 126;
}
