"""Check: the learner's tests of the catalogue and the stock report pass on the shop in either
order, and fail on every version of the shop with a bug that only a test which knows exactly
what the database holds can see."""


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
    "test_your_tests_catch_every_bug_in_the_catalogue_and_the_report",
]

KNOWN_STATE = ("A test can only expect exact numbers from a database whose content it knows: each test its own "
               "freshly seeded copy, or its own transaction rolled back after it. 'At least' and 'one more than "
               "before' pass for wrong numbers. Read pytest's fixtures (tmp_path, monkeypatch) and SQLAlchemy's "
               "'Joining a Session into an External Transaction'.")

MUTANTS = [
    Mutant("last-copy-counts-as-sold-out", "Book.stock == 0", "Book.stock <= 1",
           "a stock report that counts a book with one copy left as sold out", KNOWN_STATE),
    Mutant("titles-counted-per-copy", "titles = await session.scalar(select(func.count()).select_from(Book))",
           "titles = await session.scalar(select(func.coalesce(func.sum(Book.stock), 0)))",
           "a stock report that counts every copy as a title of its own", KNOWN_STATE),
    Mutant("sold-out-counted-as-a-copy", "select(func.coalesce(func.sum(Book.stock), 0))",
           "select(func.coalesce(func.sum(func.max(Book.stock, 1)), 0))",
           "a stock report that counts one copy of each sold-out book, as if it were still on the shelf",
           KNOWN_STATE),
    Mutant("catalogue-in-stock-only", "select(Book).order_by(Book.title)",
           "select(Book).where(Book.stock > 0).order_by(Book.title)",
           "a catalogue that leaves out the books that are sold out", KNOWN_STATE),
    Mutant("catalogue-in-arrival-order", "select(Book).order_by(Book.title)", "select(Book).order_by(Book.id)",
           "a catalogue in the order the books arrived, not by title", KNOWN_STATE),
    Mutant("catalogue-cut-short", "select(Book).order_by(Book.title)", "select(Book).order_by(Book.title).limit(5)",
           "a catalogue that stops after its first five books, as a first page with no next one", KNOWN_STATE),
]


def test_your_tests_pass_on_the_shop_as_written(kata_ns):
    expect_tests_pass_on_the_shop(grade(kata_ns, MUTANTS))


def test_your_tests_give_the_same_verdict_in_either_order(kata_ns):
    expect_the_same_verdict_in_reverse(grade(kata_ns, MUTANTS))


def test_your_tests_catch_every_bug_in_the_catalogue_and_the_report(kata_ns):
    expect_every_bug_caught(grade(kata_ns, MUTANTS), MUTANTS)
