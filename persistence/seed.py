"""A small dev catalog: ``python -m persistence.seed`` (migrates first, then seeds).

Idempotent: products are upserted (name and price follow this file) and a product's stock
is set only when it has no inventory row yet, so re-running never adds stock and never
touches reservations. The dev launcher and the benchmark call :func:`seed_catalog`;
tests create their own products and must not rely on this.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import DatabaseSettings, load_settings
from persistence.database import create_engine, session_factory
from persistence.migrate import upgrade
from persistence.tables import InventoryRow, ProductRow, utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogItem:
    sku: str
    name: str
    unit_price: Decimal
    stock: int
    reorder_point: int
    reorder_quantity: int
    currency: str = "EUR"


DEV_CATALOG: tuple[CatalogItem, ...] = (
    CatalogItem("sku-espresso-beans", "Espresso beans, 1 kg", Decimal("24.90"), 200, 40, 100),
    CatalogItem("sku-filter-papers", "Filter papers, 100 pcs", Decimal("4.50"), 500, 100, 300),
    CatalogItem("sku-ceramic-mug", "Ceramic mug, 350 ml", Decimal("12.00"), 120, 20, 60),
    CatalogItem("sku-milk-frother", "Handheld milk frother", Decimal("19.99"), 60, 10, 30),
    CatalogItem("sku-pour-over-kettle", "Pour-over kettle, 1 l", Decimal("54.00"), 40, 8, 20),
    CatalogItem("sku-burr-grinder", "Conical burr grinder", Decimal("129.00"), 25, 5, 10),
    # Scarce on purpose: a few orders are enough to see the out-of-stock path.
    CatalogItem(
        "sku-limited-edition-dripper", "Limited edition dripper", Decimal("39.00"), 3, 0, 0
    ),
)


def _insert(dialect_name: str, table: Any) -> Any:
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"seeding is not implemented for {dialect_name}")


async def seed_catalog(
    sessions: async_sessionmaker[AsyncSession],
    catalog: tuple[CatalogItem, ...] = DEV_CATALOG,
) -> list[str]:
    """Upsert ``catalog`` in one transaction; returns the SKUs."""
    now = utc_now()
    async with sessions() as session, session.begin():
        dialect = session.get_bind().dialect.name
        products = ProductRow.__table__  # type: ignore[attr-defined]
        inventory = InventoryRow.__table__  # type: ignore[attr-defined]
        for item in catalog:
            product = _insert(dialect, products).values(
                id=item.sku,
                name=item.name,
                unit_price=item.unit_price,
                currency=item.currency,
                created_at=now,
                updated_at=now,
            )
            await session.exec(
                product.on_conflict_do_update(
                    index_elements=[products.c.id],
                    set_={
                        "name": product.excluded.name,
                        "unit_price": product.excluded.unit_price,
                        "currency": product.excluded.currency,
                        "updated_at": product.excluded.updated_at,
                    },
                )
            )
            stock = _insert(dialect, inventory).values(
                product_id=item.sku,
                quantity=item.stock,
                reserved=0,
                reorder_point=item.reorder_point,
                reorder_quantity=item.reorder_quantity,
                updated_at=now,
            )
            await session.exec(
                stock.on_conflict_do_nothing(index_elements=[inventory.c.product_id])
            )
    return [item.sku for item in catalog]


async def seed_database(database: DatabaseSettings) -> list[str]:
    """The dev catalog in ``database`` (already migrated), on an engine of its own."""
    engine = create_engine(database)
    try:
        return await seed_catalog(session_factory(engine))
    finally:
        await engine.dispose()


async def _main(migrate: bool) -> None:
    settings = load_settings()
    if migrate:
        await asyncio.to_thread(upgrade, settings.database.url)
    skus = await seed_database(settings.database)
    log.info("seeded %d products: %s", len(skus), ", ".join(skus))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load the dev catalog (idempotent).")
    parser.add_argument("--no-migrate", action="store_true", help="do not run migrations first")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    asyncio.run(_main(migrate=not args.no_migrate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
