"""The catalog's prices as the API prices orders with them, kept in the process for a while.

Every POST /orders prices its lines from the products table; reading the table each time
cost about a fifth of the API's CPU per order (benchmark, with and without this cache).
Prices change rarely, so each API process keeps a product's price for
``ORDERS_API__CATALOG_CACHE_SECONDS``: a price changed in the database reaches new orders
within that time, in every process. A product the catalog does not know is never
remembered as unknown, so a new product can be ordered at once. 0 reads every time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession

from api.read_model import catalog_prices

# Past this many entries the expired ones are dropped: a catalog, not an unbounded map.
PRUNE_ABOVE = 10_000


@dataclass(frozen=True)
class CatalogPrice:
    unit_price: Decimal
    currency: str


class CatalogCache:
    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[str, tuple[float, CatalogPrice]] = {}

    async def prices(
        self, session: AsyncSession, product_ids: list[str]
    ) -> dict[str, CatalogPrice]:
        """The price of each of ``product_ids`` the catalog knows (unknown ones are absent)."""
        now = time.monotonic()
        found: dict[str, CatalogPrice] = {}
        for product_id in product_ids:
            entry = self._entries.get(product_id)
            if entry is not None and entry[0] > now:
                found[product_id] = entry[1]
        missing = [product_id for product_id in product_ids if product_id not in found]
        if not missing:
            return found
        rows = await catalog_prices(session, missing)
        for product_id, row in rows.items():
            found[product_id] = CatalogPrice(row.unit_price, row.currency)
        if self._ttl > 0:
            self._remember({product_id: found[product_id] for product_id in rows}, now)
        return found

    def _remember(self, prices: dict[str, CatalogPrice], now: float) -> None:
        if len(self._entries) > PRUNE_ABOVE:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
        expires = now + self._ttl
        for product_id, price in prices.items():
            self._entries[product_id] = (expires, price)
