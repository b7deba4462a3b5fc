"""Validation of published messages against the contract's JSON Schema (docs/schemas)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "outcome-v1.json"


@cache
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid_outcome(body: str | dict[str, Any]) -> dict[str, Any]:
    """Parse (if needed) and validate one outcome message; returns the parsed message."""
    message = json.loads(body) if isinstance(body, str) else body
    errors = sorted(validator().iter_errors(message), key=lambda e: list(e.path))
    assert not errors, "outcome message breaks the contract schema: " + "; ".join(
        f"{list(e.path)}: {e.message}" for e in errors
    )
    return message
