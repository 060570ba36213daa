#!/bin/sh
# Check 3 for images without `ats` (no full Python): a handshake on every SES
# port with the image's own openssl, host name checked, default trust store.
#   ses-openssl.sh REGION      one line a port; exit 1 on any failure
set -u
region=$1
fail=0
for port in 25 587 2587 465 2465 443; do
    case $port in
        443) host=email.$region.amazonaws.com; extra="" ;;
        465|2465) host=email-smtp.$region.amazonaws.com; extra="" ;;
        *) host=email-smtp.$region.amazonaws.com; extra="-starttls smtp" ;;
    esac
    # shellcheck disable=SC2086
    out=$(openssl s_client -connect "$host:$port" -servername "$host" $extra \
        -verify_return_error -verify_hostname "$host" -brief </dev/null 2>&1)
    if echo "$out" | grep -q "Verification: OK"; then
        echo "ok   $port $host"
    else
        echo "FAIL $port $host: $(echo "$out" | grep -m1 -i -E 'verify error|error' || echo "$out" | head -1)"
        fail=1
    fi
done
exit $fail
