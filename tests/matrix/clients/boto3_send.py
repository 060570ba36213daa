"""Send one message through SES with boto3, the way an application would.

    python3 boto3_send.py v1|v2 SUBJECT

v1 is ses.send_email (the Query API, form-encoded POST to /), v2 is
sesv2.send_email (JSON POST to /v2/email/outbound-emails); both go to
email.us-east-1.amazonaws.com. The CA handling is the SDK's own: verify is
left alone, so botocore uses AWS_CA_BUNDLE when it is set and certifi's
bundle otherwise - never the system store.

Prints one JSON line: {"ok": true, "message_id": ..., "ca": ...} or
{"ok": false, "error": "<type>: <the SDK's message>", "ca": ...}; exit 0 or 1.
"""

import json
import os
import sys

import boto3
import botocore
from botocore.config import Config

SENDER = "sender@example.com"
RECIPIENT = "rcpt@example.com"
# One attempt: botocore retries SSL errors, which would only slow the
# negative control down (the outcome is the same).
CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def send_v1(subject):
    ses = boto3.client("ses", region_name="us-east-1", config=CONFIG)
    reply = ses.send_email(
        Source=SENDER,
        Destination={"ToAddresses": [RECIPIENT]},
        Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": "sent by boto3 v1"}}},
    )
    return reply["MessageId"]


def send_v2(subject):
    sesv2 = boto3.client("sesv2", region_name="us-east-1", config=CONFIG)
    reply = sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [RECIPIENT]},
        Content={
            "Simple": {
                "Subject": {"Data": subject},
                "Body": {"Text": {"Data": "sent by boto3 v2"}},
            }
        },
    )
    return reply["MessageId"]


def ca_in_use():
    """Where botocore takes its CA bundle from, as it decides it."""
    if os.environ.get("AWS_CA_BUNDLE"):
        return "AWS_CA_BUNDLE=" + os.environ["AWS_CA_BUNDLE"]
    from botocore.httpsession import get_cert_path

    return "default: " + get_cert_path(True)


def main():
    api, subject = sys.argv[1], sys.argv[2]
    result = {"api": api, "boto3": boto3.__version__, "ca": ca_in_use()}
    try:
        result["message_id"] = (send_v1 if api == "v1" else send_v2)(subject)
        result["ok"] = True
    except botocore.exceptions.BotoCoreError as exc:
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    except botocore.exceptions.ClientError as exc:
        result.update(ok=False, error=f"ClientError: {exc}")
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
