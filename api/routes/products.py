"""``/products``: the catalog with stock; catalog admins create products and restock them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from api.auth import Principal
from api.deps import CatalogAdmin, ProductServiceDep, get_principal
from api.problems import problem_responses
from api.schemas import ProductCreate, ProductPublic, ProductsPage, StockUpdate

router = APIRouter(
    prefix="/products", tags=["products"], responses=problem_responses(401, 403, 503)
)

# Any valid token may read the catalog, whatever its role.
Authenticated = Annotated[Principal, Depends(get_principal)]
ProductIdPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", examples=["sku-espresso-beans"])
]


@router.get("", summary="List products", responses=problem_responses(422))
async def list_products(
    _user: Authenticated,
    products: ProductServiceDep,
    after: Annotated[
        str | None, Query(max_length=64, description="The next_cursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> ProductsPage:
    """Products by id, with their stock."""
    return await products.list_products(after=after, limit=limit)


@router.get("/{product_id}", summary="Read a product", responses=problem_responses(404, 422))
async def get_product(
    product_id: ProductIdPath, _user: Authenticated, products: ProductServiceDep
) -> ProductPublic:
    return await products.get(product_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a product (catalog-admin)",
    responses={
        201: {
            "description": "Created.",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **problem_responses(400, 409, 413, 422),
    },
)
async def create_product(
    body: ProductCreate, admin: CatalogAdmin, products: ProductServiceDep, response: Response
) -> ProductPublic:
    """A catalog entry with its price and opening stock."""
    created = await products.create(body, admin.acting_as(admin.names.catalog_admin))
    response.headers["Location"] = f"/products/{created.id}"
    return created


@router.put(
    "/{product_id}/stock",
    summary="Restock a product or change its reorder policy (catalog-admin)",
    responses=problem_responses(400, 404, 409, 413, 422),
)
async def update_stock(
    product_id: ProductIdPath, body: StockUpdate, admin: CatalogAdmin, products: ProductServiceDep
) -> ProductPublic:
    """Adds delivered stock and/or sets the reorder point; records InventoryRestocked
    with the catalog admin as its actor."""
    return await products.update_stock(product_id, body, admin.acting_as(admin.names.catalog_admin))
