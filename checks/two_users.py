"""Check: the learner's tests pass on the shop in either order, and fail on every version of the
shop with one authorization bug: an order served to, or cancelled by, another customer; a back
office open to customers or closed to staff; a forged or expired token let in; a request without
a token served."""


from checks import mutation
from checks.mutation import Mutant, expect_every_bug_caught, expect_tests_pass_on_the_shop, expect_the_same_verdict_in_reverse

__all__ = [
    "test_your_tests_pass_on_the_shop_as_written",
    "test_your_tests_give_the_same_verdict_in_either_order",
    "test_your_tests_catch_a_customer_who_reaches_another_customers_order",
    "test_your_tests_catch_a_back_office_open_to_customers_or_closed_to_staff",
    "test_your_tests_catch_a_token_the_shop_should_have_refused",
    "test_your_tests_catch_a_request_without_a_token_being_served",
]

OWNERSHIP = ("Broken Object Level Authorization (OWASP API1:2023): each route that takes an order's id is "
             "tried by a customer who does not own it, and the order is checked afterwards.")
FUNCTION = ("Broken Function Level Authorization (OWASP API5:2023): a staff route is tried by a customer, who "
            "must be refused, and by a member of staff, who must not be.")
TOKENS = ("Broken Authentication (OWASP API2:2023): a test crafts the tokens an attacker brings, each on its "
          "own: one signed with another key, one issued long enough ago to have expired. The shop's token "
          "maker can make both.")
ANONYMOUS = ("Authentication comes first: a request without credentials is refused with 401 on every route, "
             "whatever it asks for.")

SIGNED = 'options={"require": ["sub", "role", "exp"]}'

OWNER_BUGS = [
    Mutant("order-shown-to-anyone", "select(Order).where(Order.id == order_id, Order.user_id == user.id)",
           "select(Order).where(Order.id == order_id)",
           "a customer who asks for another customer's order by its number gets it", OWNERSHIP),
    Mutant("another-customers-order-is-forbidden",
           'raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Order not found")',
           "raise HTTPException(status.HTTP_403_FORBIDDEN if await session.get(Order, order_id) is not None "
           'else status.HTTP_404_NOT_FOUND, detail="Order not found")',
           "another customer's order is refused with 403 Forbidden, which tells whoever asks that it exists, "
           "where the shop promises 404 as for an order that does not", OWNERSHIP),
    Mutant("order-cancelled-by-anyone", "await session.delete(await own_order(session, order_id, user))",
           "await session.delete(await session.get(Order, order_id) or await own_order(session, order_id, user))",
           "a customer can cancel another customer's order, although reading it is refused", OWNERSHIP),
]
BACK_OFFICE_BUGS = [
    Mutant("customers-in-the-back-office", "Depends(staff_member)", "Depends(current_user)",
           "a staff route that lets any logged-in customer in", FUNCTION),
    Mutant("staff-locked-out", 'if user.role != "staff":', 'if user.role != "admin":',
           "a staff route that refuses the staff themselves", FUNCTION),
]
TOKEN_BUGS = [
    Mutant("forged-token-accepted", SIGNED,
           'options={"require": ["sub", "role", "exp"], "verify_signature": False, "verify_exp": True}',
           "a token signed with a key that is not the shop's is accepted (its expiry is still checked)", TOKENS),
    Mutant("expired-token-accepted", SIGNED, 'options={"require": ["sub", "role", "exp"], "verify_exp": False}',
           "a token the shop signed, but long expired, is accepted", TOKENS),
]
ANONYMOUS_BUGS = [
    Mutant("guests-served", 'raise refuse("Not authenticated")', 'return CurrentUser(id=0, role="guest")',
           "a request without a token is served as a 'guest' instead of being asked to log in", ANONYMOUS),
]
MUTANTS = [*OWNER_BUGS, *BACK_OFFICE_BUGS, *TOKEN_BUGS, *ANONYMOUS_BUGS]


def grade(ns: dict) -> mutation.Grading:
    return mutation.grade(ns, MUTANTS)


def test_your_tests_pass_on_the_shop_as_written(kata_ns):
    expect_tests_pass_on_the_shop(grade(kata_ns))


def test_your_tests_give_the_same_verdict_in_either_order(kata_ns):
    expect_the_same_verdict_in_reverse(grade(kata_ns))


def test_your_tests_catch_a_customer_who_reaches_another_customers_order(kata_ns):
    expect_every_bug_caught(grade(kata_ns), OWNER_BUGS)


def test_your_tests_catch_a_back_office_open_to_customers_or_closed_to_staff(kata_ns):
    expect_every_bug_caught(grade(kata_ns), BACK_OFFICE_BUGS)


def test_your_tests_catch_a_token_the_shop_should_have_refused(kata_ns):
    expect_every_bug_caught(grade(kata_ns), TOKEN_BUGS)


def test_your_tests_catch_a_request_without_a_token_being_served(kata_ns):
    expect_every_bug_caught(grade(kata_ns), ANONYMOUS_BUGS)
