"""docs/configuration.md names every setting the one Settings object reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from config.settings import Settings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _variables(model: type[BaseModel], prefix: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            yield from _variables(nested, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}"


def test_every_setting_has_its_variable_on_the_configuration_page() -> None:
    page = PAGE.read_text()
    variables = list(_variables(Settings, "ORDERS_"))
    assert len(variables) > 50  # the walk reached into the nested settings
    missing = [name for name in variables if f"`{name}`" not in page]
    assert missing == [], f"add these to {PAGE.name}: {missing}"
