import io
import logging

import pytest
from django.test import override_settings

from apps.core.security import RedactingFilter, redact_data


@pytest.fixture
def log_output():
    """The console handler configured by settings.LOGGING, writing into a buffer for the test."""
    handler = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, RedactingFilter) for f in h.filters)
    )
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def test_log_records_lose_secrets(log_output):
    log = logging.getLogger("amas.test")
    log.warning("login password=%s for %s", "hunter2", "alice@example.org")
    log.warning("headers: {'Authorization': 'Bearer abcdefghijklmnop', 'X-Api-Key': 'k-123456789'}")
    log.warning("token amas_0a1b2c3d_%s and key %s", "Z" * 43, "sk-ant-abcdefghijklmnopqrstu")
    log.warning('{"api_key": "s3cr3t-value", "client_secret": "xyz123456"}')
    output = log_output.getvalue()
    for secret in (
        "hunter2",
        "abcdefghijklmnop",
        "k-123456789",
        "Z" * 43,
        "sk-ant-abc",
        "s3cr3t-value",
        "xyz123456",
    ):
        assert secret not in output
    assert "a***@example.org" in output and "alice@" not in output
    assert "[redacted]" in output


def test_tracebacks_lose_secrets(log_output):
    try:
        raise ValueError("upstream said: api_key=abcdef123456 rejected")
    except ValueError:
        logging.getLogger("amas.test").exception("call failed")
    output = log_output.getvalue()
    assert "ValueError" in output and "abcdef123456" not in output


@override_settings(AMAS_MASK_EMAILS_IN_LOGS=False)
def test_email_masking_follows_the_setting(log_output):
    logging.getLogger("amas.test").warning("invited %s", "bob@example.org")
    assert "bob@example.org" in log_output.getvalue()


def test_ordinary_messages_are_untouched(log_output):
    logging.getLogger("amas.test").warning("task 42 finished: 1234 tokens used, status=completed")
    assert "task 42 finished: 1234 tokens used, status=completed" in log_output.getvalue()


def test_audit_payloads_drop_secret_keys_but_keep_the_rest():
    data = {
        "name": "OpenAI",
        "api_key": "sk-live-123",
        "headers": {"Authorization": "Bearer abcdef", "Accept": "json"},
        "secrets": {"shodan": "x"},
        "note": "uses key sk-abcdefghijklmnopqrstuv",
        "owner": "carol@example.org",
        "tokens_used": 12,
    }
    assert redact_data(data) == {
        "name": "OpenAI",
        "api_key": "[redacted]",
        "headers": {"Authorization": "[redacted]", "Accept": "json"},
        "secrets": "[redacted]",
        "note": "uses key [redacted]",
        "owner": "carol@example.org",
        "tokens_used": 12,
    }
