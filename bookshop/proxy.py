"""The load balancer in front of the bookshop, as the shop's servers see it.

Customers reach the shop at ``https://shop.example/api/...``. The load balancer ends TLS, takes
the ``/api`` prefix off the path, and sends the request on to a server over plain HTTP, from its
own address (``PROXY_ADDRESS``), with ``Host`` as the customer sent it and two headers added:
``X-Forwarded-For`` (the customer's address, appended to whatever the request already said
there) and ``X-Forwarded-Proto: https``. That is what nginx does with ``proxy_pass`` and
``proxy_set_header``, and what managed load balancers do.

Here it all runs on this machine: the load balancer's address is a loopback address of its own,
127.0.0.5, and a machine that reaches a server without going through it (another service of the
network, a port left open) is 127.0.0.2. Linux routes the whole of 127.0.0.0/8 to the loopback
interface, so a client can bind any of those addresses and the server sees it as the peer.
"""

import httpx

from bookshop.serving import certificates

PROXY_ADDRESS = "127.0.0.5"  # the load balancer, as the shop's servers see it
ELSEWHERE = "127.0.0.2"  # a machine of the network that is not the load balancer
PUBLIC_HOST = "shop.example"  # the name customers use
PREFIX = "/api"  # the path under which the load balancer publishes the shop
PUBLIC_URL = f"https://{PUBLIC_HOST}{PREFIX}"


def _get(server_url: str, path: str, *, address: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=address, verify=certificates())
    with httpx.Client(transport=transport, timeout=httpx.Timeout(10.0)) as client:
        return client.get(f"{server_url}{path}", headers=headers)


def through_the_proxy(server_url: str, path: str, *, customer: str = "198.51.100.7",
                      headers: dict[str, str] | None = None) -> httpx.Response:
    """``GET https://shop.example/api<path>`` from ``customer``, as the server behind the load
    balancer at ``server_url`` receives it. ``headers`` are the customer's own; an
    ``X-Forwarded-For`` among them is kept, and the customer's address is appended to it."""
    sent = {name.lower(): value for name, value in (headers or {}).items()}
    forwarded = sent.pop("x-forwarded-for", "")
    sent.update({
        "host": PUBLIC_HOST,
        "x-forwarded-for": f"{forwarded}, {customer}" if forwarded else customer,
        "x-forwarded-proto": "https",
    })
    return _get(server_url, path, address=PROXY_ADDRESS, headers=sent)


def directly(server_url: str, path: str, *, headers: dict[str, str] | None = None,
             address: str = ELSEWHERE) -> httpx.Response:
    """``GET <path>`` straight to the server, from another machine of the network (``address``),
    with exactly ``headers``: nothing added, nothing checked."""
    return _get(server_url, path, address=address, headers=dict(headers or {}))
