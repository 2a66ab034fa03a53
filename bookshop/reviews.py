"""The review site: a summary of every book's reviews, over HTTP.

``review_service()`` is the upstream, an app to run with ``bookshop.upstream.serve`` (see
``lookup_service`` for what its ``app.state`` lets a check change and records).
"""

from fastapi import FastAPI
from pydantic import BaseModel

from bookshop.db import seed_rows
from bookshop.models import Book
from bookshop.upstream import lookup_service


class ReviewSummary(BaseModel):
    isbn: str
    average: float
    count: int


def review_summaries() -> dict[str, dict]:
    """The review site's summary of every seeded book."""
    ratings = [(4.4, 212), (4.3, 158), (4.6, 1893), (4.1, 402), (4.5, 377), (4.4, 291), (4.5, 240), (4.6, 188)]
    return {
        book["isbn"]: {"isbn": book["isbn"], "average": average, "count": count}
        for book, (average, count) in zip(seed_rows(Book), ratings, strict=True)
    }


def review_service() -> FastAPI:
    """``GET /reviews/{isbn}`` answers ``{"isbn": ..., "average": ..., "count": ...}``, or 404."""
    return lookup_service("review site", "reviews", review_summaries())
