"""Exit codes and the errors that map onto them.

0 ok, 1 verification failed, 2 bad usage or bad input, 3 the environment
refuses (not root, read-only file system, a layout with no safe fallback).
"""

OK = 0
VERIFY_FAILED = 1
BAD_INPUT = 2
ENV_REFUSES = 3


class AtsError(Exception):
    """An error with an exit code and one line that says what to do."""

    exit_code = BAD_INPUT


class BadInput(AtsError):
    exit_code = BAD_INPUT


class EnvRefuses(AtsError):
    exit_code = ENV_REFUSES


class VerifyFailed(AtsError):
    exit_code = VERIFY_FAILED
