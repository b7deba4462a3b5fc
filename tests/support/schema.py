"""Validation of published messages against the contract's JSON Schema (docs/schemas)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
SCHEMA_PATH = SCHEMAS / "outcome-v1.json"
CHECK_ANSWER_PATH = SCHEMAS / "check-answer-v1.json"


@cache
def validator(path: Path = SCHEMA_PATH) -> Draft202012Validator:
    """A schema's validator; the check answer's resolves `outcome-v1.json` beside it."""
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    outcome = json.loads(SCHEMA_PATH.read_text())
    registry = Registry().with_resources([
        ("outcome-v1.json", Resource.from_contents(outcome)),
        (outcome["$id"], Resource.from_contents(outcome)),
    ])
    return Draft202012Validator(schema, registry=registry)


def assert_valid_check_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """One synchronous check's answer against `check-answer-v1.json`, each outcome against `outcome-v1.json`."""
    errors = sorted(validator(CHECK_ANSWER_PATH).iter_errors(answer), key=lambda e: list(e.path))
    assert not errors, "check answer breaks the contract schema: " + "; ".join(
        f"{list(e.path)}: {e.message}" for e in errors
    )
    return answer


def assert_valid_outcome(body: str | dict[str, Any]) -> dict[str, Any]:
    """Parse (if needed) and validate one outcome message; returns the parsed message."""
    message = json.loads(body) if isinstance(body, str) else body
    errors = sorted(validator().iter_errors(message), key=lambda e: list(e.path))
    assert not errors, "outcome message breaks the contract schema: " + "; ".join(
        f"{list(e.path)}: {e.message}" for e in errors
    )
    return message
