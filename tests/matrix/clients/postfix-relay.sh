#!/bin/sh
# Postfix as an SES relay (images/ses-clients: relayhost [email-smtp...]:587,
# smtp_tls_security_level = secure, SASL, smtp_tls_CAfile = the system bundle),
# run as root in one container since the queue must live through every step:
#   1. start Postfix the way Debian's init script does, sendmail one message;
#      without the test root it must stay deferred, and Postfix's own log says why
#   2. ats install --extra-ca ROOT, then postqueue -f alone (the smtp process
#      that failed is still alive and keeps the CA file it read at its start)
#   3. postfix reload (new smtp processes read the new bundle), postqueue -f:
#      delivered
# Every finding is one "KEY: line quoted from Postfix" on stdout.
#   postfix-relay.sh ROOT_PEM SUBJECT      exit 0 delivered, 1 not, 2 set-up error
set -u
root_pem=$1 subject=$2
log=/var/log/postfix.log

# How many delivery attempts Postfix has logged (one status= line each).
attempts() { grep -c ' status=' "$log" 2>/dev/null || true; }

# Wait until there are more than $1 attempts; print the newest status line.
wait_attempt() {
    i=0
    while [ "$(attempts)" -le "$1" ]; do
        i=$((i + 1))
        if [ "$i" -gt 150 ]; then echo "(no delivery attempt in 30 s)"; return 1; fi
        sleep 0.2
    done
    grep ' status=' "$log" | tail -n 1
}

# Debian's init script and systemd unit run configure-instance.sh first: it
# copies resolv.conf, hosts, nsswitch.conf and the NSS libraries into the
# chroot (/var/spool/postfix) that smtp(8) runs in. Docker writes resolv.conf
# when the container starts, so this cannot be done at build time.
/usr/lib/postfix/configure-instance.sh - || exit 2
postfix start 2>/dev/null || exit 2

printf 'From: sender@example.com\nTo: rcpt@example.com\nSubject: %s\n\nrelayed by postfix\n' \
    "$subject" | sendmail -f sender@example.com rcpt@example.com || exit 2

# 1. No test root in the store.
echo "BEFORE: $(wait_attempt 0)"
echo "BEFORE_VERIFY: $(grep -m1 -E 'certificate verification failed|verify error' "$log")"
echo "BEFORE_QUEUE: $(postqueue -p | grep -m1 '(')"

# 2. The test root is added to the system store; flush without a reload.
ats install --extra-ca "$root_pem" >/dev/null || exit 2
n=$(attempts)
postqueue -f
line=$(wait_attempt "$n")
echo "FLUSH_ONLY: $line"

# 3. Reload, then flush (unless a new smtp process already delivered it).
# The reload is asynchronous: an idle smtp process of the old generation may
# still take the first flush, so try a few times.
case $line in *status=sent*) ;; *) postfix reload 2>/dev/null ;; esac
for _ in 1 2 3 4 5; do
    case $line in *status=sent*) break ;; esac
    sleep 1
    n=$(attempts)
    postqueue -f
    line=$(wait_attempt "$n")
done
echo "AFTER: $line"
echo "AFTER_TLS: $(grep 'TLS connection established' "$log" | tail -n 1)"
echo "AFTER_QUEUE: $(postqueue -p | tail -n 1)"
postfix stop 2>/dev/null
case $line in *status=sent*) exit 0 ;; *) exit 1 ;; esac
