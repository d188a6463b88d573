"""The search attributes the saga writes, defined once: the workflow upserts them, the API
reads them, and the dev server and the deployment's bootstrap register them by name.

What operators filter orders on, without personal data (the customer id is a pseudonym).
"""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey

__all__ = [
    "CUSTOMER_ID",
    "NEEDS_ATTENTION_SINCE",
    "ORDER_STATUS",
    "ORDER_TOTAL",
    "SEARCH_ATTRIBUTES",
    "kind_name",
]

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ORDER_TOTAL = SearchAttributeKey.for_float("OrderTotal")
NEEDS_ATTENTION_SINCE = SearchAttributeKey.for_datetime("NeedsAttentionSince")


def kind_name(value: IndexedValueType.ValueType) -> str:
    """The type as the CLI and the operator API spell it: ``KEYWORD_LIST`` -> ``KeywordList``."""
    return _pascal(IndexedValueType.Name(value).removeprefix("INDEXED_VALUE_TYPE_"))


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


_KEYS: tuple[SearchAttributeKey[Any], ...] = (
    ORDER_STATUS,
    CUSTOMER_ID,
    ORDER_TOTAL,
    NEEDS_ATTENTION_SINCE,
)
# Name -> type, as registered (``temporal server start-dev --search-attribute Name=Type``).
SEARCH_ATTRIBUTES: dict[str, str] = {
    key.name: _pascal(key.indexed_value_type.name) for key in _KEYS
}
