# %% [markdown]
# # A deploy lets requests in flight finish
#
# **The story.** The bookshop runs in a Docker container, and it is deployed several times a day.
# Support has noticed a pattern: every deploy brings a few angry e-mails from customers whose
# card was charged and who got an error page instead of an order confirmation. The shop's own
# journal, where its lifespan writes a line when it starts and another when it stops, has a
# `started` line for every deploy and not a single `stopped` line. A deploy is `docker stop`
# followed by `docker run`, and `docker stop` always takes ten seconds. The Dockerfile has not
# changed in a year; its last line is the start command under review below.
#
# **You will learn**
# - what `docker stop` does (SIGTERM to the container's first process, SIGKILL after a grace
#   period) and what a server does with SIGTERM (it stops accepting, finishes what is in flight,
#   runs the app's shutdown, exits);
# - why a start command written as a plain string never passes the signal to the server, and the
#   two ways to start the server so that it receives it;
# - why the server's wait for requests in flight needs a limit, and how to choose it.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# This is the shop as it is deployed: the file `shop.py` in the image. You will not change it.
# Its lifespan wraps the shop's own one (the one "The engine belongs to the lifespan" ends with:
# it creates the database engine and disposes of it at shutdown) and writes to `journal.log`
# when the shop has started and when it has stopped. A checkout, `POST /orders`, charges the
# customer's card before it saves the order, and waits for the payment provider's answer for up
# to `PAYMENT_LIMIT` seconds.
#
# In this workbook the payment provider is a folder: the shop asks for a payment by writing a
# file `payments/<id>.asked`, and the provider answers by writing `payments/<id>.paid`. That
# lets the check (and the evidence) keep a checkout waiting exactly as long as it needs to.

# %%
import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated
from uuid import uuid4

from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan as shop_lifespan
from bookshop.models import Book, Order, OrderLine
from bookshop.schemas import BookOut, OrderIn, OrderOut

JOURNAL = Path("journal.log")
PAYMENTS = Path("payments")
PAYMENT_LIMIT = 3  # seconds a checkout waits for the card payment before it gives up


def journal(event: str) -> None:
    with JOURNAL.open("a", encoding="utf-8") as notes:
        notes.write(f"{event} (pid {os.getpid()})\n")


async def card_payment(amount_cents: int) -> bool:
    """Ask the payment provider to charge the card; True once it has, False if it has not
    answered within PAYMENT_LIMIT seconds."""
    PAYMENTS.mkdir(exist_ok=True)
    payment = PAYMENTS / uuid4().hex
    payment.with_suffix(".asked").write_text(str(amount_cents))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PAYMENT_LIMIT
    while loop.time() < deadline:
        if payment.with_suffix(".paid").exists():
            return True
        await asyncio.sleep(0.01)
    return False


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state:
        journal("started")
        yield state
        journal("stopped")  # the shop's shutdown: here it would also flush what it still holds


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookOut.model_validate(book)


@app.post("/orders", status_code=201)
async def place_order(order: OrderIn, session: SessionDep) -> OrderOut:
    total = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        if book is None:
            raise HTTPException(status_code=404, detail=f"Book {line.book_id} not found")
        total += book.price_cents * line.quantity
    if not await card_payment(total):
        raise HTTPException(status_code=502, detail="The payment provider did not answer")
    row = Order(user_id=order.user_id,
                lines=[OrderLine(book_id=line.book_id, quantity=line.quantity) for line in order.lines])
    session.add(row)
    await session.commit()
    return OrderOut(id=row.id, user_id=row.user_id, lines=order.lines)

# %% [markdown]
# ## The code under review
#
# The last line of the shop's Dockerfile, written as Python so that the check can run it. Docker
# reads `CMD` in one of two forms, and so does the check: written as a plain string, as in
# `CMD uvicorn shop:app ...`, Docker runs it through `/bin/sh -c`; written as a JSON array,
# as in `CMD ["uvicorn", "shop:app", ...]`, Docker runs that program itself. Below, a Python
# string stands for the first form and a Python list for the second.
#
# The container's port 8000 is published (`docker run -p 8000:8000`). The image has the shop's
# code as `shop.py` in its working folder, with `uvicorn` and `fastapi` installed.

# %% tags=["kata", "starter"]
CMD = "uvicorn shop:app --host 0.0.0.0 --port 8000"

# %% tags=["kata", "solution"]
# Exec form: uvicorn is the container's first process, so `docker stop`'s SIGTERM reaches the
# server itself. It stops accepting at once, finishes what is in flight for at most 5 s (longer
# than a checkout's 3 s wait for the payment, well inside Docker's 10 s), then runs the
# lifespan's shutdown and exits.
CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000", "--timeout-graceful-shutdown", "5"]

# %% tags=["kata", "decoy:shell-form-with-a-limit"]
# "The server does not wait long enough at shutdown: give it a graceful timeout." The limit is
# right, but the server never hears of the shutdown: the shell in front of it gets the signal.
CMD = "uvicorn shop:app --host 0.0.0.0 --port 8000 --timeout-graceful-shutdown 5"

# %% tags=["kata", "decoy:brackets-around-a-shell"]
# "Exec form is the one with brackets; and a shell lets the port come from $PORT." The brackets
# now start /bin/sh, which is the first process again, and it does not pass SIGTERM on.
CMD = ["sh", "-c", "uvicorn shop:app --host 0.0.0.0 --port ${PORT:-8000} --timeout-graceful-shutdown 5"]

# %% tags=["kata", "decoy:fastapi-run"]
# "FastAPI's own production command, in exec form, as FastAPI's Docker guide writes it." It gets
# the signal and drains, but it has no option to bound the wait: one hung request keeps it
# waiting until Docker's SIGKILL, and the shutdown never runs.
CMD = ["fastapi", "run", "shop.py", "--port", "8000"]

# %% tags=["kata", "decoy:all-the-time-they-need"]
# "Never cut a customer's request: give requests in flight 30 s." Docker does not wait that
# long: at 10 s it sends SIGKILL, and the shutdown never runs.
CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000", "--timeout-graceful-shutdown", "30"]

# %% tags=["kata", "decoy:deploys-must-be-quick"]
# "A deploy should take a second, not ten: 1 s is plenty." A checkout waits up to 3 s for the
# payment: one that has just started when the deploy begins is cut.
CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000", "--timeout-graceful-shutdown", "1"]

# %% tags=["kata", "decoy:two-workers"]
# "Two workers: one finishes the checkout while the other takes the new customers." Neither
# takes new customers after SIGTERM, but the parent process keeps the port open until both have
# finished: new connections are accepted, never answered, then reset.
CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000", "--workers", "2",
       "--timeout-graceful-shutdown", "5"]

# %% tags=["kata", "decoy:a-timeout-around-the-server"]
# "Give it nine seconds, within Docker's ten." `timeout` counts from the start, not from SIGTERM:
# every container of the shop dies nine seconds after its deploy, whatever it is doing.
CMD = ["timeout", "9", "uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000",
       "--timeout-graceful-shutdown", "5"]

# %% tags=["kata", "alternative:exec-in-the-shell"]
# Shell form, for the $PORT variable, with `exec`: the shell replaces itself with uvicorn, which
# becomes the first process and receives the signal.
CMD = "exec uvicorn shop:app --host 0.0.0.0 --port ${PORT:-8000} --timeout-graceful-shutdown 5"

# %% tags=["kata", "alternative:settings-from-the-environment"]
# uvicorn reads each option from an environment variable too (in a Dockerfile, ENV lines); `env`
# sets them and replaces itself with uvicorn, which stays the first process.
CMD = ["env", "UVICORN_HOST=0.0.0.0", "UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN=5", "uvicorn", "shop:app", "--port", "8000"]

# %% tags=["kata", "alternative:python-m-uvicorn"]
# Exec form through the interpreter, options written with `=`: still one process, the server.
CMD = ["python", "-m", "uvicorn", "shop:app", "--host=0.0.0.0", "--port=8000", "--timeout-graceful-shutdown=8"]

# %% [markdown]
# ## The evidence
#
# The next cell deploys the shop the way the check does. It writes the notebook's code to
# `shop.py` in a temporary folder, runs `CMD` there as Docker would (port 8000 becomes a free
# port on 127.0.0.1), sends a checkout that waits for its card payment, and then plays
# `docker stop`: SIGTERM to the container's first process. A container lives as long as its
# first process: when that process ends, every process left in the container is killed. Read the
# timeline: which process got the signal, what happened to the checkout, and what the journal
# says.

# %% tags=["evidence"]
import tempfile

from checks.graceful_shutdown import watch_a_deploy

with tempfile.TemporaryDirectory(prefix="container-") as folder:
    deploy = watch_a_deploy(CMD, globals(), Path(folder))
print(deploy.timeline())

# %% [markdown]
# With the starter, the first process is `/bin/sh`, and uvicorn runs as its child. The shell ends
# on SIGTERM without passing it on (here; in a real container the shell is PID 1, which the
# kernel shields from signals it has no handler for, so it simply ignores SIGTERM). Either way
# uvicorn never learns that it should stop: it is killed, here when the shell ends, in Docker
# when the ten seconds are up. The checkout has no answer and the journal has no `stopped` line.
#
# ## The check
#
# Run it. It plays one deploy, like the cell above, and judges it: each failing test says what it
# observed and why that matters in production. Change `CMD`, run the cell, then run the check
# again until every test passes.

# %% tags=["check"]
%%ipytest
from checks.graceful_shutdown import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint graceful-shutdown` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# The evidence lists the processes in the container. Which one receives the signal, and is it the
# one that holds the checkout? Then: once the right process gets it, how long may it wait for the
# checkout, and how long does Docker wait for it?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# Docker runs a `CMD` written as a string as `/bin/sh -c "<your string>"`: the shell is the
# container's first process, and `docker stop` signals only that one. A shell does not pass
# SIGTERM on to the program it started. Written as a JSON array (*exec form*), the program
# itself is the first process. A shell can also hand its place to the program with the `exec`
# builtin.
#
# Once the server gets SIGTERM, uvicorn waits for the requests in flight for as long as they
# take, unless its *graceful shutdown timeout* is set. Docker waits 10 s by default before
# SIGKILL, and nothing runs after SIGKILL.
#
# Read: Docker, [Shell and exec form](https://docs.docker.com/reference/dockerfile/#shell-and-exec-form)
# and [docker stop](https://docs.docker.com/reference/cli/docker/container/stop/); Uvicorn,
# [Settings: Timeouts](https://www.uvicorn.org/settings/#timeouts).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# CMD = ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000",
#        "--timeout-graceful-shutdown", "..."]  # seconds: at least a checkout's wait, under 10
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Make the server the container's first process.** `docker stop` sends SIGTERM to PID 1
#    only. With `CMD uvicorn ...` (shell form) PID 1 is `/bin/sh`, which neither passes the
#    signal on nor, as PID 1, even reacts to it: Docker waits out its grace period and kills
#    everything with SIGKILL. In exec form the server is PID 1:
#
#    ```dockerfile
#    FROM python:3.11-slim
#    WORKDIR /srv
#    COPY requirements.txt .
#    RUN pip install --no-cache-dir -r requirements.txt
#    COPY shop.py .
#    CMD ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000", "--timeout-graceful-shutdown", "5"]
#    ```
#
#    If you need the shell (to read `$PORT`, say), end it with `exec`, so that the shell replaces
#    itself with the server: `CMD exec uvicorn shop:app --host 0.0.0.0 --port ${PORT:-8000} ...`.
#    Brackets alone are not enough: `CMD ["sh", "-c", "uvicorn ..."]` puts the shell back in
#    front.
# 2. **What the server does with SIGTERM** (uvicorn 0.54, as the evidence showed): within its
#    0.1 s tick it closes its listening socket, so new connections are refused and go elsewhere;
#    it lets the requests in flight finish (each answered with `Connection: close`); it runs the
#    lifespan's shutdown; then it ends itself with the same signal, so its exit code is -15 here
#    (143 in `docker ps -a`). That is a clean stop, not a crash.
# 3. **Bound the wait.** Without `--timeout-graceful-shutdown`, uvicorn waits for requests in
#    flight as long as they take. A hung request then keeps it waiting until SIGKILL, and the
#    shutdown never runs. Choose the limit from both ends: at least as long as the slowest
#    request you promise to finish (a checkout waits up to 3 s for the payment), and short enough
#    to leave the shutdown time within the platform's grace period (Docker: 10 s, `docker stop
#    -t` or `stop_grace_period` in Compose to change it; Kubernetes: 30 s,
#    `terminationGracePeriodSeconds`). When the limit is reached, uvicorn cancels what still
#    runs, then runs the shutdown.
#
# Why not `fastapi run`? It is exec form too and drains properly, but fastapi-cli (0.0.34) has
# no option for the graceful timeout: use uvicorn directly when you need the bound. Why not
# `--workers 2` in the container? The workers drain, but the parent process keeps the listening
# socket open until both have finished, so new connections are accepted and then reset instead
# of being refused at once. In a container, run one server process and let the platform run more
# containers.
#
# Read more: Docker, [Shell and exec form](https://docs.docker.com/reference/dockerfile/#shell-and-exec-form),
# [docker stop](https://docs.docker.com/reference/cli/docker/container/stop/); Linux,
# `man 7 pid_namespaces` (signals to a namespace's init process); Uvicorn,
# [Settings](https://www.uvicorn.org/settings/) and [Deployment](https://www.uvicorn.org/deployment/);
# FastAPI, [FastAPI in Containers](https://fastapi.tiangolo.com/deployment/docker/).
#
# ### What to remember
# - Write `CMD` in exec form (a JSON array), or `exec` the server from the shell: the server must
#   be the process that receives SIGTERM.
# - On SIGTERM uvicorn refuses new connections, finishes what is in flight, runs the lifespan's
#   shutdown, and exits with the signal (-15, shown as 143).
# - Set `--timeout-graceful-shutdown`: longer than the requests you promise to finish, shorter
#   than the platform's grace period minus your shutdown work.
