"""The catalog and its stock: list, create, restock (admins write, everyone reads).

A stock change and its domain event commit in one transaction (the events table is the
outbox), so the relay never publishes a restock that did not happen, nor misses one.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

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
from persistence.event_store import append_events
from persistence.tables import InventoryRow, ProductRow, utc_now

# A concurrent append to the same product's timeline makes ours collide on its version.
_ATTEMPTS = 3


def product_public(product: ProductRow, stock: InventoryRow | None) -> ProductPublic:
    return ProductPublic(
        id=product.id,
        name=product.name,
        unit_price=product.unit_price,
        currency=product.currency,
        stock=None
        if stock is None
        else StockPublic(
            quantity=stock.quantity,
            reserved=stock.reserved,
            available=stock.available,
            reorder_point=stock.reorder_point,
            reorder_quantity=stock.reorder_quantity,
        ),
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


class ProductService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def list_products(self, *, after: str | None, limit: int) -> ProductsPage:
        rows = await read_model.list_products(self._session, after=after, limit=limit + 1)
        page = rows[:limit]
        return ProductsPage(
            data=[product_public(product, stock) for product, stock in page],
            next_cursor=page[-1][0].id if len(rows) > limit else None,
        )

    async def get(self, product_id: str) -> ProductPublic:
        found = await read_model.find_product(self._session, product_id)
        if found is None:
            raise ProductNotFoundError(product_id)
        return product_public(*found)

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
        stock = InventoryRow(
            product_id=body.id,
            quantity=body.initial_stock,
            reorder_point=body.reorder_point,
            reorder_quantity=body.reorder_quantity,
            updated_at=now,
        )
        try:
            self._session.add(product)
            await self._session.flush()  # the product first: inventory refers to it
            self._session.add(stock)
            if body.initial_stock:
                # Consumers tracking stock learn the opening quantity like any delivery.
                item = InventoryItem(product_id=body.id, quantity=0)
                await append_events(
                    self._session, [item.restock(body.initial_stock)], now, actor=actor
                )
            await self._session.commit()
        except IntegrityError as exc:
            await self._session.rollback()
            raise ProductExistsError(body.id) from exc
        return product_public(product, stock)

    async def update_stock(
        self, product_id: str, change: StockUpdate, actor: Actor
    ) -> ProductPublic:
        for _ in range(_ATTEMPTS):
            try:
                return await self._apply(product_id, change, actor)
            except IntegrityError:
                await self._session.rollback()
        raise StockContentionError(product_id)

    async def _apply(self, product_id: str, change: StockUpdate, actor: Actor) -> ProductPublic:
        product = await self._session.get(ProductRow, product_id, populate_existing=True)
        if product is None:
            raise ProductNotFoundError(product_id)
        # FOR UPDATE: reservations change `reserved` concurrently; we must not lose theirs.
        statement = (
            select(InventoryRow)
            .where(col(InventoryRow.product_id) == product_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        row = (await self._session.exec(statement)).first()
        if row is None:
            row = InventoryRow(product_id=product_id, quantity=0)
            self._session.add(row)
        if row.quantity + change.add_quantity > MAX_STOCK:
            raise StockTooLargeError(product_id, MAX_STOCK)
        item = InventoryItem(product_id=product_id, quantity=row.quantity, reserved=row.reserved)
        events: list[DomainEvent] = []
        if change.add_quantity:
            events.append(item.restock(change.add_quantity))
        policy = ReorderPolicy(
            reorder_point=row.reorder_point
            if change.reorder_point is None
            else change.reorder_point,
            reorder_quantity=row.reorder_quantity
            if change.reorder_quantity is None
            else change.reorder_quantity,
        )
        row.quantity = item.quantity
        row.reorder_point = policy.reorder_point
        row.reorder_quantity = policy.reorder_quantity
        row.updated_at = utc_now()
        await append_events(self._session, events, row.updated_at, actor=actor)
        await self._session.commit()
        return product_public(product, row)
