# %% [markdown]
# # Refuse at once what you cannot serve
#
# **The story.** The bookshop's checkout runs in containers of its own, behind the load
# balancer. A checkout charges the card through the payment provider, which takes at most four
# payments at a time from one container (the shop's contract); the shop makes the others wait
# for a free line. On the first morning of the sale the provider took eight seconds a payment.
# The incident report says:
#
# - one container held 37 checkouts: 4 paying, 33 waiting for a line; the other container had
#   room to spare, and the load balancer had no way to know that the first one was full;
# - the load balancer gives up on a request after 10 s and answers the customer `504 Gateway
#   Timeout`. Many customers pressed "Pay" again, while their first checkout was still waiting
#   in the container; minutes later both went through: two orders, two charges;
# - the load balancer is set to send a request to another container when one answers `503` at
#   once (nothing was done, so it is safe to retry). The shop never answered 503.
#
# **You will learn**
# - why a server that takes in more than it can serve makes every customer wait, and why a quick
#   refusal is what lets the load balancer and the client do something better;
# - how uvicorn limits the requests it serves at once, what it answers the others, and exactly
#   what it counts;
# - why a queue in front of the work is not a limit, and where else a limit can live.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# This is the checkout service as it is deployed: the file `shop.py` in the image. You will not
# change this cell. When a customer confirms an order, the shop sends `POST
# /orders/{order_id}/payment` here: the service charges the card through the payment provider
# and answers `201` with the receipt.
#
# The payment provider takes `PAYMENT_LINES` payments at a time from one container: a payment
# waits for a free line (and notes it in `journal.log`), then waits for the provider's answer
# for up to `PAYMENT_LIMIT` seconds. In this workbook the provider is a folder: the service asks
# for a payment by writing `payments/<id>.asked`, and the provider answers by writing
# `payments/<id>.paid` (or `payments/<id>.declined`). That lets the check (and the evidence) keep checkouts waiting exactly as
# long as it needs to.

# %%
import asyncio
import os
from pathlib import Path
from uuid import uuid4

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

JOURNAL = Path("journal.log")
PAYMENTS = Path("payments")
PAYMENT_LINES = 4  # payments the provider takes at a time from one container
PAYMENT_LIMIT = 8  # seconds a payment waits for the provider's answer before it gives up

free_lines = asyncio.Semaphore(PAYMENT_LINES)


def journal(event: str) -> None:
    with JOURNAL.open("a", encoding="utf-8") as notes:
        notes.write(f"{event} (pid {os.getpid()})\n")


async def card_payment(amount_cents: int) -> str | None:
    """Charge the card through the payment provider: the payment's reference once it is done,
    None if the provider declined it or has not answered within PAYMENT_LIMIT seconds."""
    if free_lines.locked():
        journal("a checkout waits for a free payment line")
    async with free_lines:
        PAYMENTS.mkdir(exist_ok=True)
        payment = PAYMENTS / uuid4().hex[:12]
        payment.with_suffix(".asked").write_text(str(amount_cents))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PAYMENT_LIMIT
        while loop.time() < deadline:
            if payment.with_suffix(".paid").exists():
                return payment.name
            if payment.with_suffix(".declined").exists():
                return None
            await asyncio.sleep(0.01)
        return None


class PaymentIn(BaseModel):
    amount_cents: int = Field(gt=0)


class Receipt(BaseModel):
    order_id: int
    amount_cents: int
    payment: str


app = FastAPI(title="Checkout")


@app.post("/orders/{order_id}/payment", status_code=201)
async def pay_for_order(order_id: int, payment: PaymentIn) -> Receipt:
    reference = await card_payment(payment.amount_cents)
    if reference is None:
        raise HTTPException(status_code=502, detail="The payment did not go through")
    return Receipt(order_id=order_id, amount_cents=payment.amount_cents, payment=reference)

# %% [markdown]
# ## The code under review
#
# The last line of the checkout container's Dockerfile, written as Python so that the check can
# run it: a list is Docker's *exec form* (run as it is), a string its *shell form* (run by
# `/bin/sh -c`). The container's port 8000 is published, and the image has the code above as
# `shop.py` in its working folder, with `uvicorn` and `fastapi` installed.
#
# The shop runs one server process per container (the platform runs more containers when it
# needs more). If you want to change the app itself, write that code in this cell too: it
# becomes part of `shop.py`, after the code above.

# %% tags=["kata", "starter"]
CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000"]

# %% tags=["kata", "solution"]
# uvicorn refuses a request when 5 connections are open, the request's own included: 4
# checkouts are served (one per payment line), and a 5th is answered 503 on the spot, so the
# load balancer sends it to another container.
CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000", "--limit-concurrency", "5"]

# %% tags=["kata", "decoy:short-backlog"]
# "Keep the queue short: a backlog of 4 connections, and the others are turned away." The
# backlog is the kernel's queue of connections the server has not accepted yet; uvicorn accepts
# every connection at once, so that queue never fills, and the checkouts wait inside the app.
CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000", "--backlog", "4"]

# %% tags=["kata", "decoy:a-limit-that-never-bites"]
# "Set the server's limit, high enough never to turn a real customer away." With 4 payment
# lines, a container can serve 4 checkouts: a limit of 1000 lets the 5th to the 999th queue.
CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000", "--limit-concurrency", "1000"]

# %% tags=["kata", "decoy:the-limit-is-the-capacity"]
# "The container can serve 4 checkouts at once: limit it to 4." uvicorn counts the connection of
# the request it is deciding about too: the 4th checkout is refused while a line is free.
CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000", "--limit-concurrency", "4"]

# %% tags=["kata", "decoy:take-turns"]
# "Let four checkouts in at a time and have the others take their turn." That is the queue of
# the incident, moved in front of the app: a 5th checkout still waits, with no answer, until a
# line frees up or the load balancer gives up on it.
CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000"]

turns = asyncio.Semaphore(PAYMENT_LINES)


@app.middleware("http")
async def take_turns(request, call_next):
    async with turns:
        return await call_next(request)

# %% tags=["kata", "decoy:refuse-after-a-while"]
# "Refuse what cannot be served, but give a line a few seconds to free up first." The refusal
# comes, five seconds later: by then the customer has waited, and a load balancer that retries
# elsewhere has lost those seconds too.
from fastapi.responses import JSONResponse

CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000"]

turns = asyncio.Semaphore(PAYMENT_LINES)


@app.middleware("http")
async def refuse_after_a_while(request, call_next):
    try:
        await asyncio.wait_for(turns.acquire(), timeout=5)
    except TimeoutError:
        return JSONResponse({"detail": "The shop is busy, try again"}, status_code=503)
    try:
        return await call_next(request)
    finally:
        turns.release()

# %% tags=["kata", "decoy:two-workers"]
# "Two workers with a limit of 3 each: 2 checkouts per process, 4 for the container." Each
# process counts only its own connections and has its own 4 payment lines, and which process
# takes a new connection is the kernel's choice: the container's count is nobody's.
CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000", "--workers", "2",
       "--limit-concurrency", "3"]

# %% tags=["kata", "decoy:workers-from-the-environment"]
# The same two workers, set in the environment of the shell form: still two processes, each
# with its own count.
CMD = "export UVICORN_WORKERS=2; exec uvicorn shop:app --host 0.0.0.0 --port 8000 --limit-concurrency 3"

# %% tags=["kata", "decoy:a-count-that-leaks"]
# "Count the checkouts in flight and refuse the fifth." The count goes up for every checkout
# and down only for those paid: each declined payment keeps a line taken for good.
from fastapi import Response

CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000"]

in_flight = 0


@app.middleware("http")
async def count_checkouts(request, call_next):
    global in_flight
    if in_flight >= PAYMENT_LINES:
        return Response("Every payment line is busy", status_code=503)
    in_flight += 1
    response = await call_next(request)
    if response.status_code < 400:
        in_flight -= 1
    return response

# %% tags=["kata", "decoy:fastapi-run-with-the-option"]
# "`fastapi run` is FastAPI's production command and runs uvicorn: it takes uvicorn's options."
# It takes a few of them, and this is not one: the container never starts.
CMD = ["fastapi", "run", "shop.py", "--port", "8000", "--limit-concurrency", "5"]

# %% tags=["kata", "alternative:environment-variable"]
# Shell form, with the limit in the environment variable uvicorn reads for the option (in a
# Dockerfile, an ENV line), and `exec` so that uvicorn replaces the shell.
CMD = "UVICORN_LIMIT_CONCURRENCY=5 exec uvicorn shop:app --host 0.0.0.0 --port 8000"

# %% tags=["kata", "alternative:python-m-uvicorn"]
# Exec form through the interpreter, options written with `=`.
CMD = ["python", "-m", "uvicorn", "shop:app", "--host=0.0.0.0", "--port=8000", "--limit-concurrency=5"]

# %% tags=["kata", "alternative:fastapi-run-and-a-middleware"]
# `fastapi run` has no concurrency limit of its own: the app counts the requests in flight and
# answers 503 at once when its payment lines are all taken. It counts requests, not
# connections, so the number is the capacity itself.
from fastapi.responses import PlainTextResponse

CMD = ["fastapi", "run", "shop.py", "--port", "8000"]


class RefuseWhenFull:
    """Serve at most `limit` HTTP requests at once; answer the others 503 straight away."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.in_flight >= self.limit:
            busy = PlainTextResponse("The shop is busy, try again", status_code=503,
                                     headers={"Retry-After": "1"})
            return await busy(scope, receive, send)
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


app.add_middleware(RefuseWhenFull, limit=PAYMENT_LINES)

# %% tags=["kata", "alternative:refuse-when-no-line-is-free"]
# The app refuses a request when every payment line is taken, in an HTTP middleware, and the
# start command stays as it was.
from fastapi.responses import JSONResponse

CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000"]


@app.middleware("http")
async def refuse_when_no_line_is_free(request, call_next):
    if free_lines.locked():
        return JSONResponse({"detail": "Every payment line is taken, try again"}, status_code=503,
                            headers={"Retry-After": "1"})
    return await call_next(request)

# %% [markdown]
# ## The evidence
#
# The next cell plays the morning of the sale, the way the check does. It writes the notebook's
# code to `shop.py` in a temporary folder and runs `CMD` there (port 8000 becomes a free port on
# 127.0.0.1). It sends one checkout while the shop is quiet; then, with the payment provider
# slow, checkouts one after the other until every payment line is taken, and one more; then the
# provider answers every payment. Read what each checkout got, and when.

# %% tags=["evidence"]
import tempfile

from checks.overload import watch_a_rush

with tempfile.TemporaryDirectory(prefix="checkout-") as folder:
    rush = watch_a_rush(CMD, globals(), Path(folder))
print(rush.timeline())

# %% [markdown]
# With the starter, the 5th checkout gets no answer while the other four wait for the
# provider: the shop took it in, and it waits for a free line (the journal says so). It is
# served only once a line frees up, however long that takes; in the incident, long after the
# load balancer had given up on it.
#
# ## The check
#
# Run it. It plays the same rush, and each failing test says what it observed and why that
# matters in production. Change the kata cell, run it, then run the check again until every
# test passes.

# %% tags=["check"]
%%ipytest
from checks.overload import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint overload` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# When all four payment lines are taken, what can the container do with a 5th checkout that is
# better than keeping it? What would the load balancer do with the answer? Then: does the server
# you run have a way to decide that on its own, and what exactly does it count?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# *Load shedding*: a server that is full refuses new work at once, with `503 Service
# Unavailable`, instead of queueing it. uvicorn does it with its *concurrency limit*: past the
# limit, it answers 503 without calling the app. Read how it counts before you pick the number:
# it counts the open connections, the one the new request came on included (and the tasks in
# flight), so the number of requests it serves at once is one less than the limit. `fastapi run`
# has no such option; an ASGI middleware that counts the requests in flight can do the same job.
#
# Read: Uvicorn, [Settings: Resource limits](https://www.uvicorn.org/settings/#resource-limits)
# and [Server behavior](https://www.uvicorn.org/server-behavior/).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000",
#        "--limit-concurrency", "..."]  # the requests to serve at once, plus the one in hand
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Know what one container can serve.** Here it is the payment provider's four lines: a 5th
#    checkout can only wait. Elsewhere it is a database pool, a thread pool, memory. Past that
#    number, taking more work in makes nothing faster: it only makes the queue longer, and every
#    request in it waits for all the ones in front.
# 2. **Refuse the rest at once.** A `503` sent straight away costs the container nothing, and
#    tells the load balancer that this request was not started, so it can try another container
#    (or the client can retry a moment later). A request that waits 10 s and then times out at the
#    load balancer is the worst of both: the customer got nothing, and the container may still
#    do the work after nobody is waiting for it (the double charges of the story).
# 3. **Let the server do it.** uvicorn 0.54's `--limit-concurrency N` answers `503 Service
#    Unavailable` (plain text, `Connection: close`) without calling the app, when a request
#    arrives and `N` connections are open, its own included, or `N` requests are already in
#    flight. The connection the new request came on is one of the `N`, so it serves `N - 1`
#    requests at once: for four, write 5 (run the evidence with 4 to see the 4th refused):
#
#    ```dockerfile
#    FROM python:3.11-slim
#    WORKDIR /srv
#    COPY requirements.txt .
#    RUN pip install --no-cache-dir -r requirements.txt
#    COPY shop.py .
#    CMD ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000", "--limit-concurrency", "5"]
#    ```
#
#    uvicorn also reads the option from `UVICORN_LIMIT_CONCURRENCY` (an `ENV` line).
#
# **Idle connections count too.** uvicorn counts connections, not requests: a connection the load
# balancer keeps open between requests (keep-alive) takes a place in the count while it does
# nothing. Behind a proxy that keeps connections open, size the limit with that in mind, or count
# requests in the app instead: a small ASGI middleware that keeps the number of requests in
# flight and answers 503 when it reaches the capacity. That is also the way with `fastapi run`,
# which has no option for a limit (fastapi-cli 0.0.34).
#
# **Why not a semaphore in front of the app?** `async with semaphore:` around each request is a
# queue, not a limit: the 5th request still waits, with no answer, exactly as in the incident. Add
# a timeout to the wait and it refuses, but only after the customer has waited the timeout out.
# Refuse *before* waiting.
#
# **Why not a short `--backlog`?** The backlog is the kernel's queue of connections the server has
# not accepted yet. uvicorn accepts connections as fast as they come, so that queue stays empty
# and the requests wait inside the app.
#
# **Why not several workers with a smaller limit each?** Each process counts its own connections,
# and the kernel decides which process takes each new one: one worker can be full while the other
# is idle, and the container's total is nobody's to hold. Run one process per container, with one
# limit, and let the platform add containers.
#
# **And the time limits.** A limit on how many is half of it; the other half is how long. The shop
# gives up on the payment provider after `PAYMENT_LIMIT` seconds, so a line always frees up; every
# call to another service needs such a bound, shorter than the load balancer's own ("One HTTP
# client for the whole app" shows how to give an HTTP client one). Without it, a provider that
# hangs holds every line for good, and from then on the limit refuses every customer.
#
# Read more: Uvicorn, [Settings](https://www.uvicorn.org/settings/#resource-limits) and
# [Server behavior](https://www.uvicorn.org/server-behavior/); MDN,
# [503 Service Unavailable](https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/503).
#
# ### What to remember
# - Past what it can serve, a server must refuse at once (503), not queue: the queue is where
#   customers wait until their client gives up, and the work still runs after they have left.
# - `--limit-concurrency N` counts open connections, the one in hand included: it serves `N - 1`
#   at once. Idle keep-alive connections count too.
# - A semaphore that waits is a queue; a limit answers the request beyond it straight away.
# - Bound how long as well as how many: every call out has a timeout shorter than the load
#   balancer's.
