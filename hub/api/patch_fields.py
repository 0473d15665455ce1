"""Fields of a PATCH body that may be left out but not sent as ``null``.

In an ``XUpdate`` model a field left out keeps its value (it reads as None in Python). Sent as
``null`` it used to read the same and then reach the database as NULL, or be silently ignored.
``NotNull[T]`` refuses an explicit null with a 422 that names the field, and the OpenAPI
document shows the field as plain ``T``; fields where null means something (a device's
``zone_id``: out of its zone) stay ``T | None`` and say so in their description.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import BeforeValidator, ValidationInfo
from pydantic_core import PydanticCustomError

T = TypeVar("T")


def _not_null(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        raise PydanticCustomError(
            "null_not_allowed",
            "{field} cannot be null: leave it out to keep its current value, or send a new one",
            {"field": info.field_name or "this field"},
        )
    return value


if TYPE_CHECKING:
    # What the code sees: None when the field was left out.
    NotNull = Annotated[T | None, BeforeValidator(_not_null)]
else:
    # What pydantic validates: only T (the None default is never validated), so a wrong value
    # gets T's own error, and null gets the one above.
    NotNull = Annotated[T, BeforeValidator(_not_null)]
