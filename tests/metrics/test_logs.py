"""LOG_FORMAT=json: one object per line with the sync's ids; secrets redacted in both formats."""

from __future__ import annotations

import io
import json
import logging

import pytest

from pims_sync.apikeys import generate_api_key
from pims_sync.config import Settings
from pims_sync.errors import ConfigError
from pims_sync.logs import configure, sync_context
from pims_sync.webhooks import new_secret


def logger_with(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    logger = logging.getLogger(f"test.logs.{fmt}")
    logger.handlers = [logging.StreamHandler(out)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    configure(Settings.from_env({"LOG_FORMAT": fmt}), root=logger)
    return logger, out


def secrets_in_messages():
    key = generate_api_key(env="test").key
    hook = new_secret()
    return key, hook, [
        ("connecting to %s", ("postgresql://app:Sup3r-Secret@db:5432/app",)),
        ("key %s refused", (key,)),
        ("signing with %s", (hook,)),
        ("login form sent password=%s&user=vet", ("Hunter2-Pass",)),
        ("header Authorization: Bearer %s", ("abcdefghijklmnop.qrstuv",)),
    ]


def test_json_lines_carry_the_sync_context_and_no_secret():
    logger, out = logger_with("json")
    key, hook, messages = secrets_in_messages()
    with sync_context(sync_id="s-1", clinic_id="c-1", phase="inbound"):
        for template, args in messages:
            logger.warning(template, *args)
        try:
            raise ValueError("failed with password=Hunter2-Pass")
        except ValueError:
            logger.exception("boom for %s", "x")
    logger.info("outside", extra={"sync_id": "s-2"})
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == len(messages) + 2
    first = lines[0]
    assert list(first) == ["time", "level", "logger", "syncId", "clinicId", "phase", "message"]
    assert first["syncId"] == "s-1" and first["clinicId"] == "c-1" and first["phase"] == "inbound"
    assert first["level"] == "WARNING" and first["logger"] == "test.logs.json" and first["time"].endswith("Z")
    assert first["message"] == "connecting to postgresql://app:***@db:5432/app"
    assert "ValueError" in lines[-2]["exception"]
    assert lines[-1]["syncId"] == "s-2" and lines[-1]["clinicId"] is None
    text = out.getvalue()
    for secret in ("Sup3r-Secret", key, hook, hook.removeprefix("whsec_"), "Hunter2-Pass", "qrstuv"):
        assert secret not in text
    assert "_".join(key.split("_")[:3]) + "_***" in text  # the key's display prefix stays, to trace it


def test_text_logs_are_redacted_the_same_way():
    logger, out = logger_with("text")
    key, hook, messages = secrets_in_messages()
    for template, args in messages:
        logger.warning(template, *args)
    text = out.getvalue()
    assert "postgresql://app:***@db:5432/app" in text and not text.lstrip().startswith("{")
    for secret in ("Sup3r-Secret", key, hook, "Hunter2-Pass", "qrstuv"):
        assert secret not in text


def test_log_format_is_checked():
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Settings.from_env({"LOG_FORMAT": "xml"})
