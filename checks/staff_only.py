"""Check: a set of attacks on the staff routes. Every route of the app that the story does not name
public or for customers is a staff route: a caller without a valid token gets 401, a customer gets
403 (even one whose request claims to be staff), and neither changes anything. Staff still work,
and shoppers still reach the catalogue and their own orders.

The tests send their requests to one app, started once for the check (``running_shop``), as they
would to a server; each test starts from the seeded orders and stock, and puts them back after
every request that changed them."""

import re
import secrets
import sqlite3
from contextlib import closing

import jwt
import pytest
from starlette.routing import Mount

from bookshop.auth import bearer_header, issue_token
from bookshop.observe import run_sql
from checks.feedback import expect, fail
from checks.harness import brief, client_of_the_shop, json_of, learner, strings_in_code

__all__ = [
    "shop_orders",
    "test_a_customer_is_refused_with_403_on_every_staff_route",
    "test_a_caller_without_a_valid_token_is_asked_to_log_in_on_every_staff_route",
    "test_a_customer_whose_request_claims_to_be_staff_is_still_refused",
    "test_staff_can_still_list_orders_change_stock_and_refund",
    "test_shoppers_still_reach_the_catalogue_and_their_own_orders",
]

ALICE, BOB, CAROL = 1, 2, 3
PUBLIC = {("GET", "/books"), ("GET", "/books/{book_id}")}
DOCS = {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}  # FastAPI's own, public by the story
CUSTOMER = {("GET", "/orders")}
STORY_STAFF = [("GET", "/admin/orders"), ("POST", "/admin/books/{book_id}/stock"),
               ("POST", "/admin/orders/{order_id}/refund")]
EXAMPLES = {"book_id": "3", "order_id": str(BOB), "user_id": str(BOB)}  # Dune, and Bob's order
BODIES = {("POST", "/admin/books/{book_id}/stock"): {"change": -5}}  # Dune written off the shelf
TITLES = {3: "Dune", 5: "Kindred"}

# Every way a request can claim a role without the shop's signature.
CLAIM_HEADERS = {"X-Role": "staff", "X-User-Role": "staff", "Role": "staff", "X-Staff": "true",
                 "X-Admin": "true", "X-Is-Staff": "true", "X-User-Id": str(CAROL)}
CLAIM_QUERY = {"role": "staff", "staff": "true", "is_staff": "true", "admin": "true", "as_staff": "true"}
CLAIM_COOKIES = {"role": "staff", "staff": "true", "is_staff": "true"}

AUTHZ_CONCEPT = ("Authentication says who is calling (no valid token: 401); authorization says what "
                 "they may do (a customer on a staff route: 403). A dependency can ask both, and a "
                 "router's dependencies run before every route under it. FastAPI docs: 'Dependencies "
                 "in path operation decorators', 'Bigger Applications'; OWASP API5:2023.")


def _reset(url: str) -> None:
    """Alice's order 1 (two Dune), Bob's order 2 (one Kindred), and the seed's stock."""
    run_sql(url, "DELETE FROM order_lines", "DELETE FROM orders",
            "UPDATE books SET stock = 5 WHERE id = 3", "UPDATE books SET stock = 3 WHERE id = 5",
            f"INSERT INTO orders (id, user_id) VALUES (1, {ALICE}), (2, {BOB})",
            "INSERT INTO order_lines (id, order_id, book_id, quantity) VALUES (1, 1, 3, 2), (2, 2, 5, 1)")


@pytest.fixture
def shop_orders(running_shop) -> str:
    _reset(running_shop.database)
    return running_shop.database


def _state(url: str, ns: dict) -> tuple:
    """The stock of every book, the orders and their lines, and the back office's audit log: what
    a staff route changes."""
    audit = ns.get("audit_log")
    with closing(sqlite3.connect(url.split(":///", 1)[1])) as conn:
        return (dict(conn.execute("SELECT id, stock FROM books").fetchall()),
                conn.execute("SELECT id, user_id FROM orders ORDER BY id").fetchall(),
                conn.execute("SELECT order_id, book_id, quantity FROM order_lines ORDER BY id").fetchall(),
                [str(entry) for entry in audit] if isinstance(audit, list) else [])


def _changes(before: tuple, after: tuple) -> str:
    said = []
    for book_id, stock in sorted(after[0].items()):
        if before[0].get(book_id) != stock:
            said.append(f"the stock of {TITLES.get(book_id, f'book {book_id}')} went from {before[0].get(book_id)} to {stock}")
    gone = [f"order {o} (user {u})" for o, u in before[1] if (o, u) not in after[1]]
    new = [f"order {o} (user {u})" for o, u in after[1] if (o, u) not in before[1]]
    if gone:
        said.append(f"{', '.join(gone)} was deleted")
    if new:
        said.append(f"{', '.join(new)} appeared")
    if before[:3] != after[:3] and not said:
        said.append("the order lines changed")
    said += [f"the audit log recorded {entry!r}" for entry in after[3][len(before[3]):]]
    return "; ".join(said)


def _template(path: str) -> str:
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


def _contexts(routes) -> list:
    """The routes a list of routes serves. Since FastAPI 0.137, ``include_router`` leaves one entry
    in ``app.routes`` for the whole router (no path, no methods); ``iter_route_contexts`` lists the
    routes behind it, each with its full path and the router's dependencies."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # an older FastAPI copied every route into app.routes
        return list(routes)
    return list(iter_route_contexts(routes))


def _routes(app) -> list[tuple[str, str, object]]:
    """(method, path template, route) for every HTTP route ``app`` serves, mounted apps included."""
    found: list[tuple[str, str, object]] = []

    def walk(routes, prefix: str) -> None:
        for route in _contexts(routes):
            original = getattr(route, "original_route", route)
            path = prefix + (getattr(route, "path", "") or "")
            if isinstance(original, Mount):
                walk(getattr(original, "routes", None) or [], path)
                continue
            methods = getattr(route, "methods", None)
            if not methods:
                continue  # a websocket route: no HTTP request reaches it
            for method in sorted(methods):
                if method == "HEAD" and "GET" in methods:
                    continue
                found.append((method, _template(path), route))

    walk(getattr(app, "routes", None) or [], "")
    return found


def _staff_routes(app) -> list[tuple[str, str, object]]:
    routes = [r for r in _routes(app) if (r[0], r[1]) not in PUBLIC | CUSTOMER and r[1] not in DOCS]
    missing = [f"{m} {p}" for m, p in STORY_STAFF if not any((m, p) == (r[0], r[1]) for r in routes)]
    if missing:
        fail(
            f"The check walked app.routes and found no route for {', '.join(missing)}. It found: "
            f"{', '.join(sorted({f'{m} {p}' for m, p, _ in _routes(app)})) or 'no route at all'}.",
            "The staff still need every back-office route of the story, at the same URL: the staff "
            "pages call them.",
        )
    return routes


def _url(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: EXAMPLES.get(m.group(1), "1"), template)


def _label(method: str, template: str) -> str:
    return f"{method} {_url(template)}"


async def _attempt(client, method: str, template: str, *, headers=None, params=None, extra_body=None):
    body = BODIES.get((method, template))
    if extra_body and isinstance(body, dict):
        body = {**body, **extra_body}
    elif extra_body and body is None and method not in ("GET", "HEAD"):
        body = extra_body  # a route with no body of its own may still read one
    return await client.request(method, _url(template), json=body, headers=headers or {}, params=params or {})


def _claim_value(annotation) -> str:
    text = str(annotation)
    return "true" if "bool" in text else str(CAROL) if "int" in text else "staff"


NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")
# Names a request needs as they are; setting them to a claim would break the request, not test it.
PROTOCOL = {"authorization", "cookie", "host", "content-type", "content-length", "transfer-encoding",
            "connection", "accept", "accept-encoding", "user-agent"}


def _names_in_code(ns: dict) -> set[str]:
    """The strings in the notebook's code that could name a header, a cookie, a query parameter or
    a JSON field: where an app may read a claim through ``request.headers``, ``request.cookies``
    or ``await request.json()``, under a name of its own that the front end knows, and so does
    anyone who reads the front end."""
    return {text for text in strings_in_code(ns) if NAME.fullmatch(text) and text.lower() not in PROTOCOL}


def _read_by(route) -> set[str]:
    """Every parameter name the route and its dependencies declare (path, query, header, cookie,
    body): a claim under one of those names would fail validation, and hide what it tests."""
    names: set[str] = set()
    seen: set[int] = set()

    def walk(dependant) -> None:
        if dependant is None or id(dependant) in seen:
            return
        seen.add(id(dependant))
        for kind in ("path", "query", "header", "cookie", "body"):
            for field in getattr(dependant, f"{kind}_params", None) or []:
                names.update(n for n in (getattr(field, "alias", None), getattr(field, "name", None)) if isinstance(n, str))
        for sub in getattr(dependant, "dependencies", None) or []:
            walk(sub)

    walk(getattr(route, "dependant", None))
    return names


def _declared(route) -> dict[str, dict[str, str]]:
    """Every header, query parameter and cookie the route or its dependencies read, each set to a
    value that claims staff: what an attacker reads in the docs, or guesses."""
    found: dict[str, dict[str, str]] = {"header": {}, "query": {}, "cookie": {}}
    seen: set[int] = set()

    def walk(dependant) -> None:
        if dependant is None or id(dependant) in seen:
            return
        seen.add(id(dependant))
        for kind, values in found.items():
            for field in getattr(dependant, f"{kind}_params", None) or []:
                name = getattr(field, "alias", None) or getattr(field, "name", None)
                if isinstance(name, str) and name.lower() != "authorization":
                    values[name] = _claim_value(getattr(getattr(field, "field_info", None), "annotation", None))
        for sub in getattr(dependant, "dependencies", None) or []:
            walk(sub)

    walk(getattr(route, "dependant", None))
    return found


@pytest.mark.anyio
async def test_a_customer_is_refused_with_403_on_every_staff_route(kata_ns, running_shop, shop_orders):
    app = learner(kata_ns, "app")
    routes = _staff_routes(app)
    let_in, changed, other = [], [], []
    async with client_of_the_shop(kata_ns, running_shop) as client:
        for method, template, _ in routes:
            before = _state(shop_orders, kata_ns)
            response = await _attempt(client, method, template, headers=bearer_header(ALICE, "customer"))
            change = _changes(before, _state(shop_orders, kata_ns))
            if response.is_success:
                let_in.append(f"{_label(method, template)} answered {brief(response, 90)}"
                              + (f" ({change})" if change else ""))
            elif change:
                changed.append(f"{_label(method, template)} answered {brief(response, 60)}, and yet {change}")
            elif response.status_code != 403:
                other.append(f"{_label(method, template)} answered {brief(response, 70)}")
            if change:
                _reset(shop_orders)
    if let_in:
        fail(
            f"With Alice's token (a customer), these staff routes did what she asked: {'; '.join(let_in)}.",
            "Any customer can open an account and call the back office with their own token: refund "
            "any order, empty the shelves, read every customer's orders. The URLs are in the staff "
            "pages' JavaScript, and hiding them from the docs hides nothing.",
            nudge="What does CurrentUserDep tell a route about the caller, and which question about "
                  "that caller does no line in the kata cell ask?",
            concept=AUTHZ_CONCEPT,
        )
    if changed:
        fail(
            f"With Alice's token, these staff routes refused her, but only after acting: {'; '.join(changed)}.",
            "A refusal that comes after the refund or the stock change protects nothing: the money "
            "and the stock are gone, or the records say they are, whatever the status code says.",
            nudge="At which point of the request does your staff check run: before the route does "
                  "anything, or after?",
            concept=AUTHZ_CONCEPT,
        )
    expect(
        not other,
        f"With Alice's token (a customer, logged in), these staff routes did not answer 403 "
        f"Forbidden: {'; '.join(other)}.",
        "The story's contract: a logged-in customer on a staff route gets 403. A 401 would tell the "
        "front end to log her in again, which cannot help; a 404 or a 422 hides the real reason "
        "from the front end and from the logs.",
        nudge="Who is Alice to the app at that point: someone unknown, or someone known who may not "
              "do this?",
        concept=AUTHZ_CONCEPT,
    )


@pytest.mark.anyio
async def test_a_caller_without_a_valid_token_is_asked_to_log_in_on_every_staff_route(kata_ns, running_shop, shop_orders):
    app = learner(kata_ns, "app")
    routes = _staff_routes(app)
    carol = jwt.decode(issue_token(CAROL, "staff"), options={"verify_signature": False})
    callers = (("with no token", {}), ("with a token that is not one", {"Authorization": "Bearer not-a-token"}),
               ("with a token claiming to be Carol (staff), signed with the attacker's own key",
                {"Authorization": f"Bearer {issue_token(CAROL, 'staff', key=secrets.token_urlsafe(32))}"}),
               ("with an unsigned token (alg none) claiming to be Carol (staff)",
                {"Authorization": f"Bearer {jwt.encode(carol, None, algorithm='none')}"}))
    let_in, wrong = [], []
    async with client_of_the_shop(kata_ns, running_shop) as client:
        for method, template, _ in routes:
            for who, headers in callers:
                before = _state(shop_orders, kata_ns)
                response = await _attempt(client, method, template, headers=headers)
                change = _changes(before, _state(shop_orders, kata_ns))
                challenge = response.headers.get("www-authenticate", "")
                if change:
                    _reset(shop_orders)
                if response.is_success or change:
                    let_in.append(f"{_label(method, template)} {who} answered {brief(response, 80)}"
                                  + (f" ({change})" if change else ""))
                    break  # a route that lets this caller in tells nothing more with the next one
                if response.status_code != 401 or "bearer" not in challenge.lower():
                    wrong.append(f"{_label(method, template)} {who} answered {brief(response, 60)}"
                                 + (f" with WWW-Authenticate: {challenge}" if challenge else ", with no WWW-Authenticate header"))
    if let_in:
        fail(
            f"Without a valid token, these staff routes did what was asked: {'; '.join(let_in)}.",
            "Anyone on the internet, with no account, or with a token they signed themselves, reads or "
            "changes the back office.",
            nudge="Which staff route does not ask who is calling, or believes a token the shop did not sign?",
            concept=AUTHZ_CONCEPT,
        )
    expect(
        not wrong,
        f"Without a valid token, these staff routes did not answer 401 with WWW-Authenticate: "
        f"Bearer: {'; '.join(wrong)}.",
        "A caller with no valid token is not forbidden, they are unknown. 401 with "
        "WWW-Authenticate: Bearer is what tells a front end, or any HTTP client, to log in and try "
        "again; a 403 says logging in would not help, and the customer is stuck on an error page.",
        nudge="Which dependency of the shop already answers an unknown caller the right way, and "
              "does your check ask it first?",
        concept=AUTHZ_CONCEPT,
    )


@pytest.mark.anyio
async def test_a_customer_whose_request_claims_to_be_staff_is_still_refused(kata_ns, running_shop, shop_orders):
    app = learner(kata_ns, "app")
    routes = _staff_routes(app)
    let_in = []
    in_code = _names_in_code(kata_ns)
    async with client_of_the_shop(kata_ns, running_shop) as client:
        for method, template, route in routes:
            declared = _declared(route)
            body_fields = set(BODIES.get((method, template)) or {})
            own_names = sorted(in_code - _read_by(route) - body_fields)
            # A name of the app's own is tried as staff, then as the flags "true" and "1".
            for value in ("staff", "true", "1") if own_names else ("staff",):
                own = {name: value for name in own_names}
                headers = {**CLAIM_HEADERS, **own, **declared["header"]}
                cookies = {**CLAIM_COOKIES, **own, **declared["cookie"]}
                headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
                headers.update(bearer_header(ALICE, "customer"))
                params = {**CLAIM_QUERY, **own, **declared["query"]}
                before = _state(shop_orders, kata_ns)
                claimed = await _attempt(client, method, template, headers=headers, params=params,
                                         extra_body={"role": "staff", "is_staff": True, **own})
                change = _changes(before, _state(shop_orders, kata_ns))
                if change:
                    _reset(shop_orders)
                if claimed.is_success or change:
                    break
            else:
                continue
            plain = await _attempt(client, method, template, headers=bearer_header(ALICE, "customer"))
            _reset(shop_orders)
            reads = [name for values in declared.values() for name in values]
            said = f"{_label(method, template)} answered {brief(claimed, 70)}" + (f" ({change})" if change else "")
            if plain.is_success:
                said += " (it lets her in without any claim, too)"
            elif reads:
                said += f" (without the claims it answered {plain.status_code}; the route reads {', '.join(reads)})"
            elif own_names:
                said += (f" (without the claims it answered {plain.status_code}; the claims included "
                         f"{', '.join(own_names[:6])}{' and more' if len(own_names) > 6 else ''} set to {value!r})")
            let_in.append(said)
    expect(
        not let_in,
        f"With Alice's token (a customer), and the request claiming staff in every way a client can "
        f"(headers such as X-Role: staff, query parameters such as role=staff, cookies, a role in the "
        f"JSON, every header, query parameter or cookie the route itself reads, set to a staff "
        f"value, and every name the notebook's code holds, set to staff, true and 1), these staff "
        f"routes let her in: {'; '.join(let_in)}.",
        "Every header, query parameter, cookie and body field is written by the client: a customer "
        "types X-Role: staff as easily as the staff pages do. Only what the shop signed (the token's "
        "claims) or stores (the users table) can say what a caller is.",
        nudge="Where does the role your staff check reads come from: something the shop signed or "
              "stored, or something the client wrote?",
        concept=AUTHZ_CONCEPT,
    )


@pytest.mark.anyio
async def test_staff_can_still_list_orders_change_stock_and_refund(kata_ns, running_shop, shop_orders):
    carol = bearer_header(CAROL, "staff")
    async with client_of_the_shop(kata_ns, running_shop) as client:
        listed = await client.get("/admin/orders", headers=carol)
        restocked = await client.post("/admin/books/3/stock", json={"change": 4}, headers=carol)
        refunded = await client.post(f"/admin/orders/{BOB}/refund", headers=carol)
    orders = json_of(listed)
    ids = sorted(o.get("id") for o in orders if isinstance(o, dict)) if isinstance(orders, list) else None
    expect(
        listed.status_code == 200 and ids == [1, 2],
        f"With Carol's token (staff), GET /admin/orders answered {brief(listed)}, not both orders "
        "(Alice's 1 and Bob's 2).",
        "The back office exists for the staff: a check that refuses them too has broken it.",
        nudge="Does your check let the staff role through?",
    )
    stock = dict(run_sql(shop_orders, "SELECT id, stock FROM books WHERE id IN (3, 5)"))
    expect(
        restocked.status_code == 200 and stock.get(3) == 9,
        f"With Carol's token, POST /admin/books/3/stock with a change of +4 answered "
        f"{brief(restocked)}, and Dune's stock is now {stock.get(3)} (it was 5).",
        "Staff record every delivery this way: the shelves must show what arrived.",
    )
    left = run_sql(shop_orders, f"SELECT id FROM orders WHERE id = {BOB}")
    expect(
        refunded.status_code == 200 and not left and stock.get(5) == 4,
        f"With Carol's token, POST /admin/orders/{BOB}/refund answered {brief(refunded)}; Bob's "
        f"order is {'still there' if left else 'gone'} and Kindred's stock is {stock.get(5)} (it was 3).",
        "Refunds are the staff's job: the order is cancelled and its copies go back on the shelf.",
    )


@pytest.mark.anyio
async def test_shoppers_still_reach_the_catalogue_and_their_own_orders(kata_ns, running_shop, shop_orders):
    async with client_of_the_shop(kata_ns, running_shop) as client:
        catalogue = await client.get("/books")
        dune = await client.get("/books/3")
        anonymous_orders = await client.get("/orders")
        alices = await client.get("/orders", headers=bearer_header(ALICE, "customer"))
    books = json_of(catalogue)
    expect(
        catalogue.status_code == 200 and isinstance(books, list) and len(books) == 8,
        f"GET /books, with no token, answered {brief(catalogue)}, not the catalogue's 8 books.",
        "The catalogue is public by the story: shoppers browse before they have an account, and "
        "search engines index it. Locking it away loses every new customer.",
        nudge="Which routes does your staff check apply to: the back office, or more than that?",
    )
    book = json_of(dune)
    expect(
        dune.status_code == 200 and isinstance(book, dict) and book.get("title") == "Dune",
        f"GET /books/3, with no token, answered {brief(dune)}, not the book Dune.",
        "A book's page is public by the story.",
        nudge="Which routes does your staff check apply to: the back office, or more than that?",
    )
    expect(
        anonymous_orders.status_code == 401,
        f"GET /orders, with no token, answered {brief(anonymous_orders)}, not 401.",
        "A customer's orders are for that customer: someone unknown must log in first.",
    )
    orders = json_of(alices)
    ids = [o.get("id") for o in orders if isinstance(o, dict)] if isinstance(orders, list) else None
    expect(
        alices.status_code == 200 and ids == [1],
        f"GET /orders with Alice's token answered {brief(alices)}, not her one order (order 1).",
        "Customers follow their orders on this page: it is for logged-in customers, not only staff.",
        nudge="Which routes does your staff check apply to: the back office, or more than that?",
    )
