#!/bin/sh
# curl as an SES client, with its own CA handling (the image's default bundle):
# one message over SMTP with STARTTLS required on 587, then SendEmail through
# the v1 Query API on 443, signed with curl's own --aws-sigv4.
#   curl-send.sh SUBJECT     prints curl's own error and exits with its code
set -u
subject=$1
smtp=email-smtp.us-east-1.amazonaws.com
api=email.us-east-1.amazonaws.com
echo "client: $(curl --version | head -n 1 | cut -d' ' -f1,2)"
msg=$(mktemp)
printf 'From: sender@example.com\r\nTo: rcpt@example.com\r\nSubject: %s\r\n\r\nsent by curl\r\n' \
    "$subject" >"$msg"
# --ssl-reqd: STARTTLS or fail, never plaintext; -sS: quiet but errors shown.
curl -sS --ssl-reqd "smtp://$smtp:587" --mail-from sender@example.com \
    --mail-rcpt rcpt@example.com --user 'AKIAIOSFODNN7EXAMPLE:ses-standin-test-password' \
    --upload-file "$msg" || exit $?
echo "smtp 587: sent"
# Not --fail-with-body (curl 7.76+): check the reply instead, so an old curl works too.
reply=$(curl -sS --aws-sigv4 aws:amz:us-east-1:ses \
    --user 'AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' \
    --data-urlencode Action=SendEmail --data-urlencode Source=sender@example.com \
    --data-urlencode Destination.ToAddresses.member.1=rcpt@example.com \
    --data-urlencode "Message.Subject.Data=$subject" \
    --data-urlencode 'Message.Body.Text.Data=sent by curl' "https://$api/") || exit $?
case $reply in
    *"<MessageId>"*) echo "api 443: $(echo "$reply" | grep -o '<MessageId>[^<]*</MessageId>')" ;;
    *) echo "api 443: unexpected reply: $reply"; exit 1 ;;
esac
