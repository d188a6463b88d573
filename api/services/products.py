"""The catalog and its stock: list, create, restock (admins write, everyone reads).

A stock change and its domain event commit in one transaction (the events table is the
outbox), so the relay never publishes a restock that did not happen, nor misses one.
"""

from __future__ import annotations

from api import read_model
from api.errors import (
    ProductExistsError,
    ProductNotFoundError,
    StockContentionError,
    StockTooLargeError,
)
from api.schemas import (
    MAX_STOCK,
    ProductCreate,
    ProductPublic,
    ProductsPage,
    StockPublic,
    StockUpdate,
)
from models.actor import Actor
from models.events import DomainEvent
from models.inventory import InventoryItem, ReorderPolicy
from persistence import catalog, inventory
from persistence.batch import Batch
from persistence.tables import InventoryRow, ProductRow, utc_now
from persistence.unit import Conflict, Sessions, reading, transaction

# A concurrent append to the same product's timeline makes ours collide on its version.
_ATTEMPTS = 3


def product_public(product: ProductRow, stock: StockPublic | None) -> ProductPublic:
    return ProductPublic(
        id=product.id,
        name=product.name,
        unit_price=product.unit_price,
        currency=product.currency,
        stock=stock,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


def stored_stock(row: InventoryRow | None) -> StockPublic | None:
    """The stock as the read model holds it (None: the product has no stock row)."""
    if row is None:
        return None
    return StockPublic(
        quantity=row.quantity,
        reserved=row.reserved,
        available=row.available,
        reorder_point=row.reorder_point,
        reorder_quantity=row.reorder_quantity,
    )


def stock_public(item: InventoryItem) -> StockPublic:
    """The stock as a write left it."""
    return StockPublic(
        quantity=item.quantity,
        reserved=item.reserved,
        available=item.available,
        reorder_point=item.reorder_policy.reorder_point,
        reorder_quantity=item.reorder_policy.reorder_quantity,
    )


class ProductService:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def list_products(self, *, after: str | None, limit: int) -> ProductsPage:
        async with reading(self._sessions) as session:
            rows = await read_model.list_products(session, after=after, limit=limit + 1)
        page = rows[:limit]
        return ProductsPage(
            data=[product_public(product, stored_stock(stock)) for product, stock in page],
            next_cursor=page[-1][0].id if len(rows) > limit else None,
        )

    async def get(self, product_id: str) -> ProductPublic:
        async with reading(self._sessions) as session:
            found = await read_model.find_product(session, product_id)
        if found is None:
            raise ProductNotFoundError(product_id)
        product, stock = found
        return product_public(product, stored_stock(stock))

    async def create(self, body: ProductCreate, actor: Actor) -> ProductPublic:
        now = utc_now()
        product = ProductRow(
            id=body.id,
            name=body.name,
            unit_price=body.unit_price,
            currency=body.currency,
            created_at=now,
            updated_at=now,
        )
        policy = ReorderPolicy(body.reorder_point, body.reorder_quantity)
        item = InventoryItem(product_id=body.id, quantity=0, reorder_policy=policy)
        # Consumers tracking stock learn the opening quantity like any delivery.
        events = [item.restock(body.initial_stock)] if body.initial_stock else []
        try:
            async with transaction(self._sessions) as session:
                batch = Batch(session)
                catalog.add_product(batch, product, item)
                batch.add_events(events, now, actor=actor)
                await batch.send()
        except Conflict as exc:
            raise ProductExistsError(body.id) from exc
        return product_public(product, stock_public(item))

    async def update_stock(
        self, product_id: str, change: StockUpdate, actor: Actor
    ) -> ProductPublic:
        for _ in range(_ATTEMPTS):
            try:
                return await self._apply(product_id, change, actor)
            except Conflict:
                continue
        raise StockContentionError(product_id)

    async def _apply(self, product_id: str, change: StockUpdate, actor: Actor) -> ProductPublic:
        async with transaction(self._sessions) as session:
            product = await catalog.find_product(session, product_id)
            if product is None:
                raise ProductNotFoundError(product_id)
            # Locked: reservations change `reserved` concurrently; we must not lose theirs.
            stored = await inventory.load_item(session, product_id)
            item = stored or InventoryItem(product_id=product_id, quantity=0)
            if item.quantity + change.add_quantity > MAX_STOCK:
                raise StockTooLargeError(product_id, MAX_STOCK)
            events: list[DomainEvent] = []
            if change.add_quantity:
                events.append(item.restock(change.add_quantity))
            item.reorder_policy = ReorderPolicy(
                reorder_point=item.reorder_policy.reorder_point
                if change.reorder_point is None
                else change.reorder_point,
                reorder_quantity=item.reorder_policy.reorder_quantity
                if change.reorder_quantity is None
                else change.reorder_quantity,
            )
            now = utc_now()
            batch = Batch(session)
            if stored is None:
                catalog.add_stock(batch, item, now)
            else:
                catalog.save_stock(batch, item, now)
            batch.add_events(events, now, actor=actor)
            await batch.send()
        return product_public(product, stock_public(item))
