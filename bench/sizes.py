"""Item sizes and write units, asked of MiniStack's own `ConsumedCapacity`, not computed here.

DynamoDB bills a write 1 unit per started KB of the item (the larger of before and after), and
each global secondary index entry put or deleted 1 unit per started KB of the entry. MiniStack
answers `ReturnConsumedCapacity=INDEXES` by those rules with its own code of the item sizes; the
benchmark asks it rather than keep a second model. Probe writes go to a scratch table with the
orders table's key and indexes (its definition copied), each probe a new item (put, then
deleted), so that nothing of the orders table or a sweep changes:

* `units(item)`: what putting `item` as a new item costs, table and each index;
* `size(item)`: the item's bytes, found from the units alone: a padding attribute grows (binary
  search) until the item crosses its next KB boundary, which is `size + padding`;
* `attribute_sizes(item)`: each attribute's share, as the size without it subtracted.
"""

from __future__ import annotations

from typing import Any

PAD = "~"
"""The padding attribute's name (1 byte); no item of the product has it."""
KB = 1024
INDEX_FIELDS = ("IndexName", "KeySchema", "Projection")


class Sizer:
    """Probe writes on a scratch copy of a table's definition (created at first use)."""

    def __init__(self, client: Any, source_table: str, name: str) -> None:
        self.client = client
        self.source_table = source_table
        self.name = name
        self._created = False

    def _create(self) -> None:
        if self._created:
            return
        source = self.client.describe_table(TableName=self.source_table)["Table"]
        indexes = [{k: index[k] for k in INDEX_FIELDS} for index in source.get("GlobalSecondaryIndexes", [])]
        self.client.create_table(TableName=self.name, KeySchema=source["KeySchema"],
                                 AttributeDefinitions=source["AttributeDefinitions"], BillingMode="PAY_PER_REQUEST",
                                 **({"GlobalSecondaryIndexes": indexes} if indexes else {}))
        self.client.get_waiter("table_exists").wait(TableName=self.name)
        self._created = True

    def units(self, item: dict[str, Any]) -> dict[str, float]:
        """Write units of `item` (wire form) put as a new item: `table`, then each index by name."""
        self._create()
        key = {"orderId": item["orderId"]}
        consumed = self.client.put_item(TableName=self.name, Item=item, ReturnConsumedCapacity="INDEXES")[
            "ConsumedCapacity"]
        self.client.delete_item(TableName=self.name, Key=key)
        indexes = consumed.get("GlobalSecondaryIndexes") or {}
        return {"table": float(consumed["Table"]["CapacityUnits"]),
                **{name: float(value["CapacityUnits"]) for name, value in indexes.items()}}

    def _table_units(self, item: dict[str, Any], padding: int) -> float:
        return self.units({**item, PAD: {"S": "x" * padding}})["table"]

    def size(self, item: dict[str, Any]) -> int:
        """The item's bytes by DynamoDB's rules, as MiniStack's write units reveal them.

        With `k` bytes of padding (and its 1-byte name) the item bills ceil((size + 1 + k) / KB);
        the smallest `k` that bills one unit more than `k = 1` is `units(1) x KB + 1 - size - 1`.
        """
        if PAD in item:
            raise ValueError(f"the item already has the padding attribute {PAD!r}")
        base = self._table_units(item, 1)
        low, high = 1, KB + 2  # billed `base` at `low`; one unit more at `high`
        while high - low > 1:
            middle = (low + high) // 2
            if self._table_units(item, middle) > base:
                high = middle
            else:
                low = middle
        return int(base) * KB + 1 - len(PAD) - high

    def attribute_sizes(self, item: dict[str, Any], key: str = "orderId") -> dict[str, int]:
        """Each attribute's bytes (name and value), largest first: the item's size less its size without it."""
        whole = self.size(item)
        shares = {name: whole - self.size({k: v for k, v in item.items() if k != name})
                  for name in item if name != key}
        return dict(sorted(shares.items(), key=lambda pair: pair[1], reverse=True))
