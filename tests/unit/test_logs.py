from __future__ import annotations

import json
import logging

from brain.observability import logs


def test_redactor_removes_known_and_secret_shaped_values() -> None:
    redact = logs.Redactor(["s3cret-token"])
    assert redact("token s3cret-token used") == "token [redacted] used"
    assert redact("Authorization: Bearer abc.def-123") == "Authorization: Bearer [redacted]"
    assert redact("postgresql://brain:hunter2@db:5432/brain") == (
        "postgresql://brain:[redacted]@db:5432/brain"
    )
    assert redact("host=db password=hunter2 dbname=x") == "host=db password=[redacted] dbname=x"
    assert redact("nothing to hide") == "nothing to hide"
    secret = "brk_acme.team_" + "Ab3" * 13 + "x"  # an API key's secret (kit.auth)
    assert redact(f"key {secret} leaked") == "key brk_acme.team_[redacted] leaked"


def test_json_lines_carry_the_request_id_and_no_secret() -> None:
    formatter = logs.JsonFormatter(logs.Redactor(["tok"]))
    record = logging.LogRecord("brain.x", logging.INFO, __file__, 1, "sent %s", ("tok",), None)
    record.route = "/v1/agents"
    token = logs.REQUEST_ID.set("req-1")
    try:
        logs.ContextFilter().filter(record)
    finally:
        logs.REQUEST_ID.reset(token)
    entry = json.loads(formatter.format(record))
    assert entry["message"] == "sent [redacted]"
    assert entry["request_id"] == "req-1"
    assert entry["route"] == "/v1/agents"
    assert entry["level"] == "info" and entry["logger"] == "brain.x"
    assert "trace_id" not in entry  # no span: left out rather than null


def test_json_lines_carry_no_terminal_colour_codes() -> None:
    """uvicorn adds `color_message`, its message with ANSI colour codes: left out of JSON."""
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started", (), None)
    record.color_message = "\x1b[32mStarted\x1b[0m"
    line = logs.JsonFormatter(logs.Redactor()).format(record)
    assert "\x1b" not in line and "color_message" not in json.loads(line)
