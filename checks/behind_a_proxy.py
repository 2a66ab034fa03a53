"""Check: behind the load balancer, links carry https and /api, the client is the customer the load
balancer names, and no one else can name the client.

One server for the whole check: the notebook's app, started with the notebook's CMD (the
container's port 8000 published on a free loopback port). Requests come from two loopback
addresses: the load balancer's (127.0.0.5) and another machine's (127.0.0.2); see ``bookshop.proxy``.
"""

import httpx
import pytest

from bookshop.proxy import ELSEWHERE, PROXY_ADDRESS, PUBLIC_HOST, PUBLIC_URL, directly, through_the_proxy
from bookshop.serving import ServerFailed, describe_command, free_port, launch, run_here, shop_module
from checks.feedback import expect, fail
from checks.harness import brief, json_of

__all__ = [
    "kata_proxied_server",
    "test_links_point_where_customers_reach_the_shop",
    "test_the_shop_sees_the_customer_not_the_load_balancer",
    "test_an_address_a_client_writes_itself_is_not_believed",
    "test_the_shop_still_serves_its_books",
]

CUSTOMER = "198.51.100.7"
SCRAPER = "203.0.113.66"  # on the app's ban list
INVENTED = "192.0.2.1"  # an address the scraper writes into its own X-Forwarded-For
FORGED = "6.6.6.6"

TRUST_CONCEPT = ("uvicorn believes X-Forwarded-For and X-Forwarded-Proto only from the peers listed in "
                 "--forwarded-allow-ips (default: 127.0.0.1 and ::1), and takes the client from the last address "
                 "the trusted hops did not vouch for. uvicorn docs, Settings: 'HTTP'; FastAPI docs: "
                 "'Behind a Proxy'.")


class _Started:
    def __init__(self, server=None, problem: tuple[str, str] | None = None):
        self.server, self.problem = server, problem


@pytest.fixture(scope="module")
def kata_proxied_server(request, tmp_path_factory):
    """The notebook's app, served by the notebook's CMD, for every test of the check."""
    ns = vars(request.module)
    command = ns.get("CMD")
    if "CMD" not in ns:
        yield _Started(problem=("The check needs `CMD`, the container's start command, but the notebook has "
                                "no `CMD`.", "Run every cell above the check; if you renamed `CMD`, give it "
                                "its old name back."))
        return
    if not (isinstance(command, str) and command.strip()) and not (
            isinstance(command, (list, tuple)) and command and all(isinstance(part, str) for part in command)):
        yield _Started(problem=(f"`CMD` is {command!r}: neither a string (shell form) nor a list of strings "
                                "(exec form).", "Docker runs a CMD written one of those two ways; anything "
                                "else never starts a container."))
        return
    folder = tmp_path_factory.mktemp("behind-a-proxy")
    shop_module(ns, folder, kata="behind-a-proxy")
    port = free_port()
    try:
        with launch(run_here(command, port), folder=folder, port=port) as server:
            yield _Started(server)
    except ServerFailed as error:
        yield _Started(problem=(f"The container's command {describe_command(command)} did not start a server: "
                                f"{error}", "A container whose command fails never serves anyone: the "
                                "platform restarts it again and again."))


def _serving(started: _Started):
    if started.problem:
        fail(*started.problem)
    return started.server


def _ask(send, server, path: str, **kwargs) -> httpx.Response:
    try:
        return send(server.url, path, **kwargs)
    except httpx.HTTPError as error:
        fail(f"GET {path} got no answer from the server ({type(error).__name__}: {error}).",
             "A server that drops requests serves nobody.")


def _field(response: httpx.Response, *keys: str):
    value = json_of(response)
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def test_links_point_where_customers_reach_the_shop(kata_proxied_server):
    server = _serving(kata_proxied_server)
    response = _ask(through_the_proxy, server, "/books/3", customer=CUSTOMER)
    link = _field(response, "links", "self")
    expect(response.status_code == 200 and isinstance(link, str),
           f"Through the load balancer, customer {CUSTOMER} asked for GET {PUBLIC_URL}/books/3 and the shop "
           f"answered {brief(response)}, not the book with its links.",
           "The book page must keep working behind the load balancer.")
    wanted = f"{PUBLIC_URL}/books/3"
    reasons = []
    if link.startswith("http://"):
        reasons.append("it says http: the server took the request for the plain HTTP it was between the load "
                       "balancer and the container, not the HTTPS the customer used")
    if "/api/" not in link:
        reasons.append("it lacks the /api prefix the load balancer publishes the shop under")
    expect(link == wanted,
           f"Through the load balancer, GET {PUBLIC_URL}/books/3 answered a self link of {link}, where customers "
           f"reach that book at {wanted}{': ' + '; '.join(reasons) if reasons else ''}.",
           "Browsers and the mobile app follow the links the API sends: an http:// link from an https page is "
           "blocked as mixed content or sent in clear text, and a link without the prefix reaches no route of "
           "the shop. Every link the app builds is built from what the server says about the request.",
           nudge="Where does url_for get the scheme and the path prefix of a link from, and who tells the server "
                 "what the customer used?",
           concept="X-Forwarded-Proto, believed from a trusted proxy, gives the request its scheme; the ASGI "
                   "root_path (uvicorn's --root-path) tells the app the prefix it is published under. FastAPI "
                   "docs: 'Behind a Proxy'.")


def test_the_shop_sees_the_customer_not_the_load_balancer(kata_proxied_server):
    server = _serving(kata_proxied_server)
    seen = _ask(through_the_proxy, server, "/support/connection", customer=CUSTOMER)
    scraper = _ask(through_the_proxy, server, "/books/3", customer=SCRAPER)
    address = _field(seen, "address")
    expect(seen.status_code == 200 and isinstance(address, str),
           f"Through the load balancer, GET /support/connection answered {brief(seen)}.",
           "The support page must keep working behind the load balancer.")
    as_proxy = " (the load balancer's own address)" if address == PROXY_ADDRESS else ""
    expect(address == CUSTOMER and scraper.status_code == 403,
           f"Through the load balancer, customer {CUSTOMER} opened the support page and the shop saw the "
           f"address {address}{as_proxy}; the banned scraper {SCRAPER} asked for GET /books/3 and got "
           f"{brief(scraper, 60)}.",
           "Everything keyed on the client's address (the ban list, rate limits, fraud screens, audit logs) "
           "then sees a single client, the load balancer: a ban misses its target, or, put on that address, "
           "shuts out every customer at once.",
           nudge="The load balancer writes the customer's address into X-Forwarded-For. Does the server "
                 "believe that header from the address the load balancer connects from?",
           concept=TRUST_CONCEPT)


def test_an_address_a_client_writes_itself_is_not_believed(kata_proxied_server):
    server = _serving(kata_proxied_server)
    # Judged against the same request without the invented address: whether the scraper is known at
    # all is the previous test's business; here, what a client writes must change nothing.
    honest = _ask(through_the_proxy, server, "/books/3", customer=SCRAPER)
    forged_chain = _ask(through_the_proxy, server, "/books/3", customer=SCRAPER, headers=_claiming(INVENTED))
    expect(forged_chain.status_code == honest.status_code,
           f"The banned scraper {SCRAPER} asked for GET /books/3 through the load balancer and got "
           f"{brief(honest, 60)}. It asked again with headers of its own naming {INVENTED} ({_listed_headers()}; "
           f"the load balancer appended the address the request really came from, {SCRAPER}, to "
           f"X-Forwarded-For), and got "
           f"{brief(forged_chain, 60)}: the address it wrote itself is the one the shop believed.",
           "X-Forwarded-For, like X-Real-IP and Forwarded, is a header any client can write. Only the address "
           "the trusted load balancer appended is known; the ones before it are whatever the client chose, and "
           "a server that takes them lets every banned or rate-limited client pick a new address per request.",
           nudge="Of the addresses in X-Forwarded-For, which one did the load balancer write, and which did "
                 "the client? Which hops does your server trust to have written theirs?",
           concept=TRUST_CONCEPT)
    inside = _ask(directly, server, "/support/connection", headers={**_claiming(FORGED), "Host": PUBLIC_HOST})
    address, scheme = _field(inside, "address"), _field(inside, "scheme")
    expect(inside.status_code == 200 and address == ELSEWHERE and scheme == "http",
           f"A machine at {ELSEWHERE}, which is not the load balancer, sent GET /support/connection straight "
           f"to the server with {_listed_headers()} headers naming {FORGED} over https, "
           f"and 'Host: {PUBLIC_HOST}', and the shop "
           f"answered {brief(inside)}: it believed headers from a peer it has no reason to trust.",
           "Anything that can reach a container (another service, a port left open, a compromised pod) can "
           "then claim to be any customer, over any scheme: the ban list, rate limits and audit logs record "
           "whatever it writes.",
           nudge="From which peers does the server believe forwarded headers? Is every one of them a proxy "
                 "you run?",
           concept=TRUST_CONCEPT)


def _claiming(address: str) -> dict[str, str]:
    """Every header a client could write to pass for ``address``, over https: the ones uvicorn reads,
    and the ones other proxies and hand-written middleware read."""
    return {"X-Forwarded-For": address, "X-Forwarded-Proto": "https", "X-Real-IP": address,
            "Forwarded": f"for={address};proto=https"}


def _listed_headers() -> str:
    names = list(_claiming(""))
    return f"{', '.join(names[:-1])} and {names[-1]}"


def test_the_shop_still_serves_its_books(kata_proxied_server):
    server = _serving(kata_proxied_server)
    found = _ask(through_the_proxy, server, "/books/3", customer=CUSTOMER)
    missing = _ask(through_the_proxy, server, "/books/999", customer=CUSTOMER)
    direct = _ask(directly, server, "/books/3", address="127.0.0.1")
    for response, what in ((found, "GET /books/3 through the load balancer"), (direct, "GET /books/3 from the "
                                                                                     "platform's health check")):
        expect(response.status_code == 200 and _field(response, "title") == "Dune",
               f"{what} answered {brief(response)}, not the book Dune.",
               "The catalogue must keep working, for customers and for the platform's own checks.")
    expect(missing.status_code == 404, f"GET /books/999 answered {brief(missing)}, not 404.",
           "A book that does not exist is a 404 the client can act on.")
