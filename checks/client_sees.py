"""Check: the learner's tests of the order API pass on the shop in any order, and fail on every
version of the shop whose answer differs from what a client was promised: a field leaked or
dropped, a wrong total, a wrong status, an order answered as created and never saved."""


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
    "test_your_tests_catch_every_bug_a_client_would_see",
]

BODY = ("An answer is its status and its whole body: compare the JSON a client reads with the one the API "
        "promises, field by field, so that a field too many or too few fails. Read: FastAPI, 'Testing' and "
        "'Response Model'; unittest.mock.ANY for a value the test cannot know in advance.")
DATA = ("Test data decides what a test can see: a quantity of one cannot tell a price from a price times "
        "a quantity.")
STATUS = "The status is part of what the client sees: read MDN's '201 Created' and FastAPI's 'Response Status Code'."
READ_BACK = ("A write is proven by reading it back: ask the shop again (the GET a client would send next) or "
             "look in the database. The answer alone shows what the code meant to do, not what it did.")

MUTANTS = [
    Mutant("password-hash-in-the-order", "    name: str\n\n\nclass ReceiptLine",
           "    name: str\n    hashed_password: str\n\n\nclass ReceiptLine",
           "an order that shows its customer's password hash, a field the API never promised", BODY),
    Mutant("email-in-the-order", "    name: str\n\n\nclass ReceiptLine",
           "    name: str\n    email: str\n\n\nclass ReceiptLine",
           "an order that shows its customer's email address to whoever reads it, a field the API never promised",
           BODY),
    Mutant("titles-dropped", "    title: str\n", "",
           "an order whose lines no longer say which book they are: a field the apps read, gone", BODY),
    Mutant("titles-empty", "title=book.title", 'title=""',
           "an order whose lines carry an empty title: the field is there, its value is not", BODY),
    Mutant("total-ignores-quantities", "sum(line.price_cents * line.quantity for line in lines)",
           "sum(line.price_cents for line in lines)",
           "a total that charges one copy of each book, whatever the quantity", DATA),
    Mutant("answers-200", '@app.post("/orders", status_code=201)', '@app.post("/orders")',
           "an order placed with 200 OK instead of 201 Created", STATUS),
    Mutant("never-saved", "await session.commit()", "await session.flush()",
           "an order answered 201 with its receipt, and never saved: asking for it again finds nothing",
           READ_BACK),
]


def test_your_tests_pass_on_the_shop_as_written(kata_ns):
    expect_tests_pass_on_the_shop(grade(kata_ns, MUTANTS))


def test_your_tests_give_the_same_verdict_in_either_order(kata_ns):
    expect_the_same_verdict_in_reverse(grade(kata_ns, MUTANTS))


def test_your_tests_catch_every_bug_a_client_would_see(kata_ns):
    expect_every_bug_caught(grade(kata_ns, MUTANTS), MUTANTS)
