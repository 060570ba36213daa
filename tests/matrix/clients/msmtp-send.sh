#!/bin/sh
# msmtp with /etc/msmtprc (tls_trust_file = the system bundle): one message
# through an account, ses-starttls (587) or ses-tls (465, implicit TLS).
#   msmtp-send.sh ACCOUNT SUBJECT    msmtp's own error on stderr, its exit code
set -u
printf 'From: sender@example.com\nTo: rcpt@example.com\nSubject: %s\n\nsent by msmtp\n' "$2" |
    msmtp -a "$1" rcpt@example.com
