"""Check: the learner's tests run the shop's startup, pass on the shop in any order, and fail on
every version of the shop whose startup (or a page) has one bug."""

from checks.mutation import (
    Mutant,
    expect_every_bug_caught,
    expect_tests_pass_on_the_shop,
    expect_the_same_verdict_in_reverse,
    grade,
)

__all__ = [
    "test_your_tests_pass_on_the_shop_as_written",
    "test_your_tests_give_the_same_verdict_in_either_order",
    "test_your_tests_catch_every_bug_a_broken_startup_could_ship",
]

STARTUP = ("The lifespan is the app's startup. Read FastAPI's 'Lifespan Events' and 'Testing Events: "
           "lifespan', and asgi-lifespan's LifespanManager.")
MUTANTS = [
    Mutant("featured-never-loaded", 'yield {**state, "featured": featured}', "yield state",
           "a startup that never hands the home page its books", STARTUP),
    Mutant("sessions-not-handed-on", 'yield {**state, "featured": featured}', 'yield {"featured": featured}',
           "a startup that does not hand requests the database sessions", STARTUP),
    Mutant("featured-least-stocked", "order_by(Book.stock.desc(), Book.id)", "order_by(Book.stock, Book.id)",
           "a home page that shows the wrong books, with a 200",
           "A test that checks only the status passes for a page with the wrong content."),
    Mutant("book-page-404", "if book is None:", "if book is None or book.id > 2:",
           "a book page that says 'not found' for a book the shop has"),
]


def test_your_tests_pass_on_the_shop_as_written(kata_ns):
    expect_tests_pass_on_the_shop(grade(kata_ns, MUTANTS))


def test_your_tests_give_the_same_verdict_in_either_order(kata_ns):
    expect_the_same_verdict_in_reverse(grade(kata_ns, MUTANTS))


def test_your_tests_catch_every_bug_a_broken_startup_could_ship(kata_ns):
    expect_every_bug_caught(grade(kata_ns, MUTANTS), MUTANTS)
