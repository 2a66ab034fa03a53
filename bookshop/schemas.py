"""What the bookshop's API accepts and returns (Pydantic 2 models)."""

from pydantic import BaseModel, ConfigDict, Field


class BookIn(BaseModel):
    isbn: str = Field(pattern=r"^\d{13}$")
    title: str = Field(min_length=1, max_length=300)
    author_id: int
    price_cents: int = Field(ge=0)
    stock: int = Field(default=0, ge=0)


class BookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    isbn: str
    title: str
    author_id: int
    price_cents: int
    stock: int


class BookDetail(BookOut):
    """A book with its back-cover text, which a book may lack (``None``)."""

    blurb: str | None


class OrderLineIn(BaseModel):
    book_id: int
    quantity: int = Field(default=1, gt=0)


class OrderIn(BaseModel):
    user_id: int
    lines: list[OrderLineIn] = Field(min_length=1)


class BookPage(BaseModel):
    """A book's page: its title from the catalogue, today's price, and its reviews."""

    id: int
    title: str
    price_cents: int
    rating: float
    review_count: int


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    lines: list[OrderLineIn]
