"""Fixtures of the template and security-tooling tests; the helpers are in template_support."""

from __future__ import annotations

from typing import Any

import pytest
from template_support import README, load_template, sam_translate


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """template.yaml as SAM parses it."""
    return load_template()


@pytest.fixture(scope="session")
def readme() -> str:
    return README.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def translated(template: dict[str, Any]) -> dict[str, Any]:
    """template.yaml after the SAM transform (offline)."""
    return sam_translate(template)
