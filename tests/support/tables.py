"""CreateTable arguments from `template.yaml`'s own table definitions, so a test's table has the
keys and indexes the deployed one has (a hand-written copy would miss the next index added)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@cache
def _resources() -> dict[str, Any]:
    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    resources: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_Loader)["Resources"]
    return resources


def template_table(logical_id: str) -> dict[str, Any]:
    """CreateTable arguments (keys, attribute definitions, indexes) of one table of the template."""
    properties = _resources()[logical_id]["Properties"]
    table: dict[str, Any] = {
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if properties.get("GlobalSecondaryIndexes"):
        table["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    return table
