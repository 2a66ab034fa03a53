# %% [markdown]
# # Behind a proxy, trust only the proxy
#
# **The story.** Last month the bookshop moved behind a load balancer: customers now reach it
# at `https://shop.example/api/...`; the load balancer ends TLS, takes `/api` off the path and
# passes each request on to one of the shop's containers over plain HTTP. The containers'
# start command did not change. Three reports came in since:
#
# - the mobile app follows the `self` link of a book and gets nowhere: the link says
#   `http://shop.example/books/3`, with neither `https` nor `/api`;
# - the scraper the shop banned last week (`203.0.113.66`) still copies the catalogue every
#   night, and the support page shows every customer the same address, the load balancer's;
# - a colleague found a fix online, `--forwarded-allow-ips="*"`, and it made both problems go
#   away. Then a security review sent a request straight to a container, with a header that
#   said `X-Forwarded-For: 6.6.6.6`, and the shop believed it.
#
# **You will learn**
# - what a reverse proxy tells the server behind it (`X-Forwarded-For`, `X-Forwarded-Proto`)
#   and why a server must not believe those headers from anyone else;
# - how uvicorn (and `fastapi run`) decides whom to believe: `--forwarded-allow-ips`, and why
#   `"*"` lets any client choose its own address;
# - what the ASGI `root_path` is, and how `--root-path` makes the links an app builds carry the
#   prefix the proxy publishes it under.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The shop's app, as the container runs it (`shop.py`). Two things in it depend on what the
# server tells the app about each request: the **links** it builds with `request.url_for`
# (scheme, host and path prefix all come from the request), and `request.client.host`, the
# address the **ban list** and the support page use.
#
# The network, as `bookshop.proxy` describes it: customers reach the load balancer; the load
# balancer reaches the containers **from its own address, `127.0.0.5`**; every other machine
# of the network (here `127.0.0.2`) could reach a container too, without the load balancer.
# All of them are loopback addresses of this machine, so everything runs here.

# %%
from fastapi import Depends, FastAPI, HTTPException, Request

TITLES = {1: "The Left Hand of Darkness", 2: "The Dispossessed", 3: "Dune", 5: "Kindred"}
BANNED = {"203.0.113.66"}  # the scraper that copied the whole catalogue every night


def refuse_banned(request: Request) -> None:
    if request.client is not None and request.client.host in BANNED:
        raise HTTPException(status_code=403, detail="This address is banned")


app = FastAPI(title="Bookshop", dependencies=[Depends(refuse_banned)])


@app.get("/books/{book_id}")
async def read_book(book_id: int, request: Request) -> dict:
    if book_id not in TITLES:
        raise HTTPException(status_code=404, detail="Book not found")
    self_link = str(request.url_for("read_book", book_id=book_id))
    return {"id": book_id, "title": TITLES[book_id], "links": {"self": self_link}}


@app.get("/support/connection")
async def connection(request: Request) -> dict:
    """What the shop sees of a visitor: support asks customers to open this page."""
    address = request.client.host if request.client is not None else None
    return {"address": address, "scheme": request.url.scheme}

# %% [markdown]
# ## The code under review
#
# This is the cell you will change: the start command of the shop's container, the `CMD` of
# its Dockerfile. A list is Docker's *exec form* (run as it is); a string is its *shell form*
# (run by `/bin/sh -c`). The checks and the evidence run it as the container would, with port
# 8000 published on a free port of this machine. Read it first: what does this command tell
# the server about the load balancer in front of it?

# %% tags=["kata", "starter"]
CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000"]

# %% tags=["kata", "solution"]
# Believe forwarded headers from the load balancer only, and tell the app the prefix the load
# balancer publishes it under.
CMD = [
    "uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000",
    "--forwarded-allow-ips", "127.0.0.5",
    "--root-path", "/api",
]

# %% tags=["kata", "decoy:trust-everyone"]
# "The server ignores the load balancer's headers: trust forwarded headers from everyone."
# Every symptom of the story goes away, and any client can now write the address the shop
# believes: the load balancer's own hop is no longer the one that counts.
CMD = [
    "uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000",
    "--forwarded-allow-ips", "*",
    "--root-path", "/api",
]

# %% tags=["kata", "decoy:trust-the-network"]
# "Trust the internal network, so a new load balancer address needs no new deploy." Every
# machine of that network can now claim to be any customer.
CMD = [
    "uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000",
    "--forwarded-allow-ips", "127.0.0.0/8",
    "--root-path", "/api",
]

# %% tags=["kata", "decoy:prefix-only"]
# "The links lack /api: give the server the root path." The prefix comes back, but the server
# still believes the request came over plain HTTP from the load balancer.
CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000", "--root-path", "/api"]

# %% tags=["kata", "decoy:proxy-headers-flag"]
# "Switch proxy headers on." They are on by default; what decides is whom the server believes
# them from, and by default that is only 127.0.0.1 and ::1, which the load balancer is not.
CMD = [
    "uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000",
    "--proxy-headers",
    "--root-path", "/api",
]

# %% tags=["kata", "decoy:no-prefix"]
# "Trust the load balancer, and the links will follow." Scheme and client now come right,
# but nothing tells the app that the customer's path started with /api.
CMD = [
    "uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000",
    "--forwarded-allow-ips", "127.0.0.5",
]

# %% tags=["kata", "decoy:believe-x-real-ip"]
# "Some proxies send X-Real-IP: read that too." Any client can write it, and this shop's load
# balancer never does: every machine that reaches the server picks its own address.
@app.middleware("http")
async def real_ip(request, call_next):
    if "x-real-ip" in request.headers:
        request.scope["client"] = (request.headers["x-real-ip"], 0)
    return await call_next(request)


CMD = [
    "uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000",
    "--forwarded-allow-ips", "127.0.0.5",
    "--root-path", "/api",
]

# %% tags=["kata", "alternative:fastapi-run"]
# `fastapi run` serves the same app with uvicorn, and takes the same two settings.
CMD = [
    "fastapi", "run", "shop.py", "--port", "8000",
    "--forwarded-allow-ips", "127.0.0.5",
    "--root-path", "/api",
]

# %% tags=["kata", "alternative:environment-variable"]
# Shell form, with the trusted address from an environment variable uvicorn reads (in a
# Dockerfile, an ENV line), and `exec` so that uvicorn replaces the shell.
CMD = "FORWARDED_ALLOW_IPS=127.0.0.5 exec uvicorn shop:app --host 0.0.0.0 --port 8000 --root-path /api"

# %% tags=["kata", "alternative:one-address-network"]
# The load balancer's address written as a network of one address.
CMD = [
    "uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000",
    "--forwarded-allow-ips=127.0.0.5/32",
    "--root-path=/api",
]

# %% tags=["kata", "alternative:middleware-in-code"]
# uvicorn's own middleware, added to the app in code and told whom to trust: the command then
# needs only the prefix.
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

app.add_middleware(ProxyHeadersMiddleware, trusted_hosts="127.0.0.5")

CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000", "--root-path", "/api"]

# %% [markdown]
# ## The evidence
#
# The next cell writes the notebook's app into a folder as `shop.py`, starts the container's
# command there, and sends it four requests: a customer's, through the load balancer; the
# banned scraper's, through the load balancer; the scraper again, with an `X-Forwarded-For`
# header of its own; and one from another machine of the network, straight to the server,
# with forwarded headers it wrote itself. Look at the scheme and prefix of the link, and at the
# address the shop believes each time.

# %% tags=["evidence"]
import tempfile
from pathlib import Path

from bookshop.client import describe
from bookshop.proxy import ELSEWHERE, PUBLIC_URL, directly, through_the_proxy
from bookshop.serving import ServerFailed, describe_command, free_port, launch, run_here, shop_module

port = free_port()
print(f"CMD {describe_command(CMD)}\n")
with tempfile.TemporaryDirectory(prefix="behind-a-proxy-") as scratch:
    folder = Path(scratch)
    shop_module(globals(), folder, kata="behind-a-proxy")
    try:
        with launch(run_here(CMD, port), folder=folder, port=port) as server:
            customer = through_the_proxy(server.url, "/books/3", customer="198.51.100.7")
            seen = through_the_proxy(server.url, "/support/connection", customer="198.51.100.7")
            scraper = through_the_proxy(server.url, "/books/3", customer="203.0.113.66")
            forged = through_the_proxy(server.url, "/books/3", customer="203.0.113.66",
                                       headers={"X-Forwarded-For": "192.0.2.1"})
            inside = directly(server.url, "/support/connection",
                              headers={"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https"})
        print(f"customer 198.51.100.7, GET {PUBLIC_URL}/books/3\n    -> {describe(customer, 120)}")
        print(f"customer 198.51.100.7, GET {PUBLIC_URL}/support/connection\n    -> {describe(seen)}")
        print(f"banned scraper 203.0.113.66, GET {PUBLIC_URL}/books/3\n    -> {describe(scraper)}")
        print(f"banned scraper, with its own 'X-Forwarded-For: 192.0.2.1'\n    -> {describe(forged)}")
        print(f"{ELSEWHERE}, straight to the server, with 'X-Forwarded-For: 6.6.6.6'\n    -> {describe(inside)}")
    except ServerFailed as error:
        print(f"The command did not start a server: {error}")

# %% [markdown]
# With the starter you should see the link come back as `http://shop.example/books/3`, the
# support page show `127.0.0.5` (the load balancer) for the customer, and the banned scraper
# served. The last two requests are served as well, but for a reason that has nothing to do
# with forged headers: the server believes forwarded headers only from its own machine's
# addresses (127.0.0.1 and ::1), so from neither the load balancer nor anyone else.
#
# ## The check
#
# Run it. Each failing test says what it observed and why that matters in production. Change
# the kata cell, run it, then run this cell again until every test passes.

# %% tags=["check"]
%%ipytest
from checks.behind_a_proxy import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint behind-a-proxy` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# The load balancer writes down, in headers, who the customer is and how they came. Who does
# the server believe those headers from right now, and at which address does the load balancer
# reach it? And when the customer's path was `/api/books/3`, what part of it does the app never
# hear about?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# uvicorn reads `X-Forwarded-For` and `X-Forwarded-Proto` (proxy headers, on by default) only
# on connections from the addresses in `--forwarded-allow-ips`, which defaults to 127.0.0.1
# and ::1 (or `$FORWARDED_ALLOW_IPS`).
# From those, it takes the scheme, and the client address the trusted hop wrote: the last
# address in `X-Forwarded-For` that is not itself trusted. With `"*"` every peer is trusted,
# and the first address of the header (which the client wrote) wins.
#
# The path prefix is the ASGI `root_path`: `--root-path` tells every request that the app is
# mounted under it, and `url_for` puts it in front of every link.
#
# Read: uvicorn, [Settings: HTTP](https://www.uvicorn.org/settings/#http) and
# [Deployment: running behind Nginx](https://www.uvicorn.org/deployment/#running-behind-nginx);
# FastAPI, [Behind a Proxy](https://fastapi.tiangolo.com/advanced/behind-a-proxy/).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# CMD = [
#     "uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000",
#     "--forwarded-allow-ips", "<the load balancer's address, and nothing else>",
#     "--root-path", "<the prefix the load balancer publishes the shop under>",
# ]
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Name the proxy you trust.** A reverse proxy connects to the server itself, so the TCP
#    peer of every request is the proxy. It writes what it knows into headers:
#    `X-Forwarded-For` (the client's address, appended to whatever the client sent) and
#    `X-Forwarded-Proto` (`https`). uvicorn rewrites `request.client` and the scheme from those
#    headers, but only when the peer is in `--forwarded-allow-ips`. Its default, 127.0.0.1 and ::1, fits
#    a proxy on the same machine; the shop's load balancer is `127.0.0.5`, so say so.
# 2. **Take the address the trusted hop wrote, not the first one.** Behind a trusted peer,
#    uvicorn walks `X-Forwarded-For` from the right and takes the first address it does not
#    trust. The scraper's own `X-Forwarded-For: 192.0.2.1` sits to the left of the address the
#    load balancer appended, so the scraper stays banned.
# 3. **Tell the app its prefix.** The load balancer publishes the shop under `/api` and takes
#    it off the path. `--root-path /api` sets the ASGI `root_path` of every request, so
#    `url_for` builds `https://shop.example/api/books/3`, and the docs page finds its
#    `openapi.json`.
#
# ```dockerfile
# FROM python:3.11-slim
# WORKDIR /app
# COPY . .
# RUN pip install --no-cache-dir -r requirements.txt
# ENV FORWARDED_ALLOW_IPS=10.0.0.5
# CMD ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000", "--root-path", "/api"]
# ```
#
# In production the load balancer's address is whatever the platform gives it (an ENV line
# keeps it out of the image's command); it can be a list, or a network that holds only proxies.
#
# **Why not `"*"`?** It makes every symptom of the story go away, which is why it spreads. But
# `X-Forwarded-For` is a header like any other: a client writes it, and with `"*"` uvicorn takes
# its first address, the one the client wrote. The ban list, rate limits and audit logs then
# see whatever each client chooses, through the load balancer or around it. `"*"` is safe only
# where nothing but the proxy can reach the server at all (a Unix socket, a sidecar on a
# private interface), and even then, only if the proxy replaces the header rather than appending.
#
# **Why not trust the whole network?** Every machine on it can reach the container (another
# service, a compromised pod) and claim to be any customer. Trust the proxies' addresses.
#
# **Why not just `--proxy-headers`?** It is already on, in uvicorn and in `fastapi run`: what
# was missing is whom to believe.
#
# **`--root-path` or `FastAPI(root_path=...)`?** Both make `url_for` build links under the
# prefix, on the pinned versions, but the pinned FastAPI deprecates its parameter (it warns:
# configure the server's root path instead). They also differ in what `request.url` says: with the server
# option the path the app sees starts with the prefix (`/api/books/3`), with the app's
# parameter it does not (`/books/3`), so a link built from `request.url` (a "next page" link,
# say) loses the prefix. Configure it where it belongs, at the server the proxy talks to.
#
# Read more: uvicorn, [Settings](https://www.uvicorn.org/settings/#http) and
# [Deployment](https://www.uvicorn.org/deployment/#proxies-and-forwarded-headers); FastAPI,
# [Behind a Proxy](https://fastapi.tiangolo.com/advanced/behind-a-proxy/); MDN,
# [X-Forwarded-For](https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/X-Forwarded-For).
#
# ### What to remember
# - Behind a proxy, the TCP peer is the proxy: the client's address and scheme come from
#   forwarded headers, which only the proxy may be believed about.
# - `--forwarded-allow-ips` lists the proxies you trust, nothing more; never `"*"` on a server
#   anything else can reach.
# - A proxy that publishes the app under a prefix needs `--root-path`, or every link the app
#   builds points outside it.
