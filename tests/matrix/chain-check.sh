#!/bin/sh
# Check 2 of the matrix, run inside an image: do the public Amazon
# intermediates (valid to 2030) and the demo leaves (at their pinned time)
# verify against what the image trusts by default, with the image's own TLS
# stack? Its openssl where it has one, else its Python's libcrypto.
#   chain-check.sh FIXTURES_DIR      prints one line a certificate; exit 1 on any failure
set -u
dir=$1
at=1740304936  # 2025-02-23, inside the demo leaves' validity
intermediates="r2m01 r2m02 r2m03 r2m04 r4m01 r4m02 r4m03 r4m04 e2m01 e2m02 e2m03 e2m04 e3m01 e3m02 e3m03 e3m04"
# leaf:issuing intermediate, as SOURCES.md lists them
leaves="1:r2m03 2:r4m02 3:e2m03 4:e3m02"

if command -v openssl >/dev/null 2>&1; then
    echo "stack: $(openssl version)"
    fail=0
    if command -v awk >/dev/null 2>&1; then
        # All sixteen in one openssl: each start loads the image's whole store,
        # ~0.45 s under qemu-user (7 s a check one by one, 0.7 s together).
        # openssl verify says "FILE: OK" for each good one and, for a bad one,
        # its "error N at D depth lookup: ..." lines, then "error FILE:
        # verification failed"; the first error line is the reason shown.
        files=""
        for name in $intermediates; do files="$files $dir/$name.pem"; done
        # shellcheck disable=SC2086  # the file names, one word each
        out=$(openssl verify $files 2>&1)
        printf '%s\n' "$out" | awk -v dir="$dir" -v names="$intermediates" '
            / verification failed$/ {
                sub(/^error /, ""); sub(/: verification failed$/, "")
                failed[$0] = msg; msg = ""; next
            }
            /^error [0-9]+ at / { if (msg == "") msg = $0; next }
            / OK$/ { sub(/: OK$/, ""); ok[$0] = 1 }
            END {
                n = split(names, list, " "); bad = 0
                for (i = 1; i <= n; i++) {
                    f = dir "/" list[i] ".pem"
                    if (f in ok) { print "ok   " list[i]; continue }
                    why = (f in failed) ? failed[f] : "no verdict from openssl verify"
                    print "FAIL " list[i] ": " why; bad = 1
                }
                exit bad
            }' || fail=1
    else
        for name in $intermediates; do
            if out=$(openssl verify "$dir/$name.pem" 2>&1); then
                echo "ok   $name"
            else
                echo "FAIL $name: $(echo "$out" | grep -m1 error)"
                fail=1
            fi
        done
    fi
    for pair in $leaves; do
        n=${pair%%:*} via=${pair#*:}
        leaf="$dir/valid.rootca$n.demo.amazontrust.com.pem"
        if out=$(openssl verify -attime "$at" -untrusted "$dir/$via.pem" "$leaf" 2>&1); then
            echo "ok   valid.rootca$n (via $via)"
        else
            echo "FAIL valid.rootca$n: $(echo "$out" | grep -m1 error)"
            fail=1
        fi
    done
    exit $fail
fi
for py in python3 python; do
    if command -v "$py" >/dev/null 2>&1; then
        exec "$py" "$(dirname "$0")/chain_check.py" "$dir" $at "$intermediates" "$leaves"
    fi
done
echo "SKIP: no openssl and no python in this image"
exit 77
