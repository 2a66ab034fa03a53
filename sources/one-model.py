# %% [markdown]
# # One model in, one model out
#
# **The story.** The bookshop opened customer accounts last month: `POST /users` to sign up
# (email, name, password), `GET /users/{user_id}` for the profile page, and
# `PATCH /users/{user_id}` to edit it. To save typing, one Pydantic model describes a user
# everywhere: it is the body of the sign-up and of the profile edit, and the `response_model`
# of all three routes. This week a security review sent two findings. The profile page's JSON
# carries the customer's password hash. And a tester who added `"role": "staff"` to the
# sign-up form's JSON got an account with staff rights: they could see every order and change
# prices. The review files both under OWASP API3:2023, *Broken Object Property Level
# Authorization*: the API lets clients read and write properties they have no right to.
#
# **You will learn**
# - why one model cannot describe what a client sends, what a client may change and what a
#   client may see: three different lists of fields;
# - what *mass assignment* is, and why copying a request onto a row hands the client every
#   column;
# - why filtering a field out of the answer is not the same as leaving it out of the answer's
#   model: the OpenAPI document is a promise too;
# - where the server, and only the server, decides a value (the role, the hash).
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The table is `bookshop.models.User`: `id`, `email` (unique), `name`, `hashed_password` and
# `role`, which is `"customer"` or `"staff"` (staff may manage the catalogue and see every
# order). Passwords are never stored: `bookshop.accounts.hash_password` turns one into a salted
# Argon2id hash, and `verify_password` checks a password against a hash at login. The app uses
# the shop's lifespan from "The engine belongs to the lifespan" (an engine per app, a
# `sessionmaker` in `request.state`, sessions that keep their values after a commit).

# %%
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.accounts import hash_password
from bookshop.db import lifespan
from bookshop.models import User


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Read it first: for each field of `UserSchema`, who should
# be allowed to set it, and who should be allowed to see it?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan)


class UserSchema(BaseModel):
    """A user, for every purpose: what sign-up sends, what a profile edit sends, what the API
    answers. Every field may be left out, so that one model fits all three."""

    model_config = ConfigDict(from_attributes=True)  # so it can be read from a `User` row

    id: int | None = None
    email: str | None = None
    name: str | None = None
    password: str | None = None  # sent at sign-up
    hashed_password: str | None = None
    role: str | None = None


@app.post("/users", status_code=201, response_model=UserSchema)
async def sign_up(user: UserSchema, session: SessionDep):
    row = User(**user.model_dump(exclude={"id", "password"}, exclude_none=True))
    row.hashed_password = hash_password(user.password)
    session.add(row)
    await session.commit()
    return row


@app.get("/users/{user_id}", response_model=UserSchema)
async def read_user(user_id: int, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    return row


@app.patch("/users/{user_id}", response_model=UserSchema)
async def edit_profile(user_id: int, user: UserSchema, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    for field, value in user.model_dump(exclude={"id", "password"}, exclude_none=True).items():
        setattr(row, field, value)  # whatever the client sent
    await session.commit()
    return row

# %% tags=["kata", "solution"]
app = FastAPI(lifespan=lifespan)


class UserCreate(BaseModel):
    """What sign-up accepts: exactly what the customer chooses, nothing the server decides."""

    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=8, max_length=128)


class UserUpdate(BaseModel):
    """What a profile edit may change."""

    name: str = Field(min_length=1, max_length=200)


class UserPublic(BaseModel):
    """What the API shows of a user: no password, no hash."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: str


@app.post("/users", status_code=201, response_model=UserPublic)
async def sign_up(new: UserCreate, session: SessionDep):
    # Each column named on purpose: the server hashes the password and decides the role.
    row = User(email=new.email, name=new.name, hashed_password=hash_password(new.password), role="customer")
    session.add(row)
    await session.commit()
    return row


@app.get("/users/{user_id}", response_model=UserPublic)
async def read_user(user_id: int, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    return row


@app.patch("/users/{user_id}", response_model=UserPublic)
async def edit_profile(user_id: int, changes: UserUpdate, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    row.name = changes.name
    await session.commit()
    return row

# %% tags=["kata", "decoy:response-model-exclude"]
# "The hash must not leave the server: filter it out of every answer." The JSON is clean now.
# But the OpenAPI document still promises `password` and `hashed_password` in every answer,
# and the request side is untouched: anyone can still sign up as staff.
app = FastAPI(lifespan=lifespan)
SECRET = {"password", "hashed_password"}


class UserSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int | None = None
    email: str | None = None
    name: str | None = None
    password: str | None = None
    hashed_password: str | None = None
    role: str | None = None


@app.post("/users", status_code=201, response_model=UserSchema, response_model_exclude=SECRET)
async def sign_up(user: UserSchema, session: SessionDep):
    row = User(**user.model_dump(exclude={"id", "password"}, exclude_none=True))
    row.hashed_password = hash_password(user.password)
    session.add(row)
    await session.commit()
    return row


@app.get("/users/{user_id}", response_model=UserSchema, response_model_exclude=SECRET)
async def read_user(user_id: int, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    return row


@app.patch("/users/{user_id}", response_model=UserSchema, response_model_exclude=SECRET)
async def edit_profile(user_id: int, user: UserSchema, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    for field, value in user.model_dump(exclude={"id", "password"}, exclude_none=True).items():
        setattr(row, field, value)
    await session.commit()
    return row

# %% tags=["kata", "decoy:exclude-the-fields"]
# "Mark the secrets `exclude=True`: Pydantic leaves them out of every dump and every answer."
# They are gone from the answers and from the documented answers, and a client can no longer
# write the hash. The role is not secret, so it stayed: a customer still makes themselves staff.
app = FastAPI(lifespan=lifespan)


class UserSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int | None = None
    email: str | None = None
    name: str | None = None
    password: str | None = Field(default=None, exclude=True)
    hashed_password: str | None = Field(default=None, exclude=True)
    role: str | None = None


@app.post("/users", status_code=201, response_model=UserSchema)
async def sign_up(user: UserSchema, session: SessionDep):
    row = User(**user.model_dump(exclude={"id"}, exclude_none=True))
    row.hashed_password = hash_password(user.password)
    session.add(row)
    await session.commit()
    return row


@app.get("/users/{user_id}", response_model=UserSchema)
async def read_user(user_id: int, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    return row


@app.patch("/users/{user_id}", response_model=UserSchema)
async def edit_profile(user_id: int, user: UserSchema, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    for field, value in user.model_dump(exclude={"id"}, exclude_none=True).items():
        setattr(row, field, value)
    await session.commit()
    return row

# %% tags=["kata", "decoy:separate-output-only"]
# "The leak is in the answer, so the answer gets its own model." Half the fix: nothing secret
# goes out any more, but what comes in is still the model with every column in it.
app = FastAPI(lifespan=lifespan)


class UserSchema(BaseModel):
    id: int | None = None
    email: str | None = None
    name: str | None = None
    password: str | None = None
    hashed_password: str | None = None
    role: str | None = None


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: str


@app.post("/users", status_code=201, response_model=UserPublic)
async def sign_up(user: UserSchema, session: SessionDep):
    row = User(**user.model_dump(exclude={"id", "password"}, exclude_none=True))
    row.hashed_password = hash_password(user.password)
    session.add(row)
    await session.commit()
    return row


@app.get("/users/{user_id}", response_model=UserPublic)
async def read_user(user_id: int, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    return row


@app.patch("/users/{user_id}", response_model=UserPublic)
async def edit_profile(user_id: int, user: UserSchema, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    for field, value in user.model_dump(exclude={"id", "password"}, exclude_none=True).items():
        setattr(row, field, value)
    await session.commit()
    return row

# %% tags=["kata", "decoy:patch-writes-the-raw-json"]
# "Sign-up gets a strict model. A PATCH should touch only what the client sent, and a model
# fills in what was not sent, so the edit reads the JSON itself and sets each key the row has."
# The row has a `role` and a `hashed_password` too, and nothing in the code says which keys
# a customer may set. The OpenAPI document looks clean: it shows no body for the edit at all.
app = FastAPI(lifespan=lifespan)


class UserCreate(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=8, max_length=128)


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: str


@app.post("/users", status_code=201, response_model=UserPublic)
async def sign_up(new: UserCreate, session: SessionDep):
    row = User(email=new.email, name=new.name, hashed_password=hash_password(new.password), role="customer")
    session.add(row)
    await session.commit()
    return row


@app.get("/users/{user_id}", response_model=UserPublic)
async def read_user(user_id: int, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    return row


@app.patch("/users/{user_id}", response_model=UserPublic)
async def edit_profile(user_id: int, request: Request, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    for field, value in (await request.json()).items():
        if field != "id" and hasattr(row, field):
            setattr(row, field, value)
    await session.commit()
    return row

# %% tags=["kata", "alternative:model-inheritance"]
# The fields every view shares live in a base model; each direction adds its own.
app = FastAPI(lifespan=lifespan)


class UserBase(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)


class UserCreate(UserBase):
    password: str = Field(min_length=8, max_length=128)


class UserPublic(UserBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    role: str


class UserUpdate(BaseModel):
    name: str = Field(min_length=1, max_length=200)


@app.post("/users", status_code=201, response_model=UserPublic)
async def sign_up(new: UserCreate, session: SessionDep):
    row = User(**new.model_dump(exclude={"password"}), hashed_password=hash_password(new.password), role="customer")
    session.add(row)
    await session.commit()
    return row


@app.get("/users/{user_id}", response_model=UserPublic)
async def read_user(user_id: int, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    return row


@app.patch("/users/{user_id}", response_model=UserPublic)
async def edit_profile(user_id: int, changes: UserUpdate, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    for field, value in changes.model_dump().items():  # only the fields UserUpdate has
        setattr(row, field, value)
    await session.commit()
    return row

# %% tags=["kata", "alternative:forbid-extra-fields"]
# Input models that refuse what they do not know: a request that sends a role or a hash is
# answered 422, so a client that tries finds out at once, instead of being silently ignored.
app = FastAPI(lifespan=lifespan)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=8, max_length=128)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: str


@app.post("/users", status_code=201, response_model=UserPublic)
async def sign_up(new: UserCreate, session: SessionDep):
    row = User(email=new.email, name=new.name, hashed_password=hash_password(new.password), role="customer")
    session.add(row)
    await session.commit()
    return row


@app.get("/users/{user_id}", response_model=UserPublic)
async def read_user(user_id: int, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    return row


@app.patch("/users/{user_id}", response_model=UserPublic)
async def edit_profile(user_id: int, changes: UserUpdate, session: SessionDep):
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    row.name = changes.name
    await session.commit()
    return row

# %% tags=["kata", "alternative:return-annotation"]
# The answer's model declared as the return type: FastAPI reads it as the response model,
# and a type checker sees what each route returns.
app = FastAPI(lifespan=lifespan)


class UserCreate(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=8, max_length=128)


class UserUpdate(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: str


async def find_user(session: AsyncSession, user_id: int) -> User:
    row = await session.get(User, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="User not found")
    return row


@app.post("/users", status_code=201)
async def sign_up(new: UserCreate, session: SessionDep) -> UserPublic:
    row = User(email=new.email, name=new.name, hashed_password=hash_password(new.password), role="customer")
    session.add(row)
    await session.commit()
    return UserPublic.model_validate(row)


@app.get("/users/{user_id}")
async def read_user(user_id: int, session: SessionDep) -> UserPublic:
    return UserPublic.model_validate(await find_user(session, user_id))


@app.patch("/users/{user_id}")
async def edit_profile(user_id: int, changes: UserUpdate, session: SessionDep) -> UserPublic:
    row = await find_user(session, user_id)
    row.name = changes.name
    await session.commit()
    return UserPublic.model_validate(row)

# %% [markdown]
# ## The evidence
#
# The next cell does what the tester did: it signs Dana up with one extra field,
# `"role": "staff"`, then opens Alice's profile, and lets Bob, a customer, edit his profile with
# a role and a password hash of his choosing added to the JSON. Under each answer it prints the
# row the database now holds. Then it prints what the app's OpenAPI document (the contract
# `/docs` shows and SDKs are generated from) says each route accepts and answers.

# %% tags=["evidence"]
from bookshop.accounts import verify_password
from bookshop.client import describe, documented_fields, shop_client
from bookshop.db import database_url
from bookshop.observe import run_sql

DANA = {"email": "dana@example.com", "name": "Dana", "password": "dana-likes-dune", "role": "staff"}
BOBS_HASH = "$argon2id$v=19$m=8192,t=2,p=1$Lo6WRX2YoMyoI6jSJ2U6zg$AeJjbjxk8qnurBUvdezw9nZExHCI83vFAEBowVPjPRs"
CHOSEN_HASH = "$argon2id$v=19$m=8192,t=2,p=1$1xoeLaif03PPKejGHCGs6Q$z8XmyBFrIasy6Rdq/4UQXtIERvtgsx1Nyihxt9HDlgo"
# The same start on every run: no Dana yet, Bob as the seed has him.
run_sql(database_url(), "DELETE FROM users WHERE email = 'dana@example.com'",
        f"UPDATE users SET name = 'Bob', role = 'customer', hashed_password = '{BOBS_HASH}' WHERE id = 2")


def stored(where: str) -> str:
    rows = run_sql(database_url(), f"SELECT id, name, role, hashed_password FROM users WHERE {where}")
    if not rows:
        return "stored: nothing"
    user_id, name, role, hashed = rows[0]
    if hashed == BOBS_HASH:
        which = "his old one"
    elif hashed == CHOSEN_HASH:
        which = "the one the request sent"
    else:
        which = "a hash of the password she sent" if verify_password(DANA["password"], hashed) else "another one"
    return f"stored: id {user_id}, name {name!r}, role {role!r}; password hash: {which}"


with shop_client(app) as client:
    signed_up = client.post("/users", json=DANA)
    print(f"POST /users (+ role: staff)            -> {describe(signed_up, 150)}")
    print(f"{'':>8}{stored('email = ' + repr(DANA['email']))}")
    profile = client.get("/users/1")
    print(f"GET /users/1                           -> {describe(profile, 150)}")
    edited = client.patch("/users/2", json={"name": "Bob", "role": "staff", "hashed_password": CHOSEN_HASH})
    print(f"PATCH /users/2 (+ role, a hash he made) -> {describe(edited, 150)}")
    print(f"{'':>8}{stored('id = 2')}")

print("\nWhat the OpenAPI document promises:")
for method, path in (("POST", "/users"), ("GET", "/users/{user_id}"), ("PATCH", "/users/{user_id}")):
    try:
        fields = documented_fields(app, method, path)
    except Exception as error:  # a model FastAPI cannot describe
        print(f"  {method} {path}: no document ({type(error).__name__})")
        continue
    print(f"  {method:<5} {path:<17} accepts {fields['accepts'] or '(no JSON body)'}")
    print(f"  {'':<23} answers {fields['answers']}")

# %% [markdown]
# With the starter, Dana is stored as `staff`, Alice's profile answers her Argon2 hash (and a
# `password` field, `null`, that only makes sense in a request), and Bob's edit makes him staff
# with a hash he chose: he can now log in with a password he picked for it, and so could anyone
# who edits his account. The document says the same: every route accepts `role` and
# `hashed_password`, and every route answers them.
#
# ## The check
#
# Run it. Each failing test says what it observed and why that matters in production. Fix the
# kata cell, run it again (and the cells under it), then re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.one_model import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint one-model` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Go through `UserSchema` field by field and answer two questions for each: who may set it
# (the customer at sign-up, the customer editing their profile, or only the server), and who may
# see it? How many different lists of fields do your answers make, and how many models does the
# cell have?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# A request model is an allow-list: FastAPI validates the body into it, so what it lacks, a
# client cannot set (Pydantic ignores unknown keys by default, or refuses them with
# `extra="forbid"`). A response model is an allow-list too: `response_model` (or the return
# annotation) filters the answer down to its fields, and it is also what the OpenAPI document
# publishes. So each direction gets a model of its own: one for sign-up, one for a profile edit,
# one for what anyone may see. Values the server decides, like the role and the hash, are set
# in the endpoint and appear in no request model. Copying a request onto a row wholesale
# (`**model_dump()`, a loop of `setattr`) is *mass assignment*.
#
# Read: FastAPI, [Extra Models](https://fastapi.tiangolo.com/tutorial/extra-models/) and
# [Response Model](https://fastapi.tiangolo.com/tutorial/response-model/); OWASP,
# [API3:2023 Broken Object Property Level Authorization](https://owasp.org/API-Security/editions/2023/en/0xa3-broken-object-property-level-authorization/).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# class UserCreate(BaseModel):    # what sign-up accepts
#     email: str
#     name: str
#     password: str
#
# class UserUpdate(BaseModel):    # what a profile edit may change
#     name: str
#
# class UserPublic(BaseModel):    # what anyone is shown
#     model_config = ConfigDict(from_attributes=True)
#     id: int
#     email: str
#     name: str
#     role: str
#
# @app.post("/users", status_code=201, response_model=UserPublic)
# async def sign_up(new: UserCreate, session: SessionDep):
#     row = User(email=..., name=..., hashed_password=hash_password(...), role="customer")
#     ...
# ```
# The profile edit reads a `UserUpdate` and sets the name; every route answers with `UserPublic`.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Three directions, three models.** `UserCreate` is what a stranger may choose at
#    sign-up: email, name, password. `UserUpdate` is what a customer may change later: the
#    name. `UserPublic` is what the API shows: id, email, name, role. None of them has
#    `hashed_password`; only `UserCreate` has `password`, and only as input.
# 2. **The request model is the allow-list.** FastAPI validates the JSON into `UserCreate`,
#    and Pydantic drops keys the model does not declare, so `"role": "staff"` never reaches
#    the endpoint. With `model_config = ConfigDict(extra="forbid")` it is refused with a 422
#    instead, which tells a client at once that the field is not theirs; both are safe.
# 3. **The server decides its own values, by name.** The endpoint builds the row column by
#    column: `hashed_password=hash_password(new.password)` and `role="customer"`. A
#    `User(**something.model_dump())` is only as safe as the model it dumps; naming the columns
#    keeps it safe when someone adds a field to the model next year.
# 4. **The response model is the answer and the contract.** `response_model=UserPublic` (or
#    `-> UserPublic`) makes FastAPI read the row through `UserPublic` (`from_attributes`), so
#    only its fields are sent; the same model is what `/docs` and generated clients see.
#
# Why not `response_model_exclude={"hashed_password"}`? It filters the JSON, but the documented
# answer is still the full model, hash included, and the request side is untouched: the role is
# still anyone's to set. Why not `Field(exclude=True)` on the secrets? It hides them from the
# answers (and Pydantic's dumps), yet the role is not a secret, it is a permission, and the
# input model still takes it. Why not a separate output model only? Then nothing leaks, but
# sign-up still accepts every column. And why not let the edit read the raw JSON "so only what
# was sent changes"? Then the code no longer says which fields a customer may change, so every
# column is one: the check's customer made himself staff, and the document did not even show it.
# ("PATCH changes only what it is sent" shows how a model tells a field that was not sent from
# one sent as null.)
#
# Read more: FastAPI, [Extra Models](https://fastapi.tiangolo.com/tutorial/extra-models/),
# [Response Model](https://fastapi.tiangolo.com/tutorial/response-model/); Pydantic,
# [Extra data](https://docs.pydantic.dev/latest/concepts/models/#extra-data); OWASP,
# [API3:2023](https://owasp.org/API-Security/editions/2023/en/0xa3-broken-object-property-level-authorization/)
# and the [Mass Assignment Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Mass_Assignment_Cheat_Sheet.html).
#
# ### What to remember
# - One model per direction: what a client may send (one per operation), what a client may see.
# - A request model is an allow-list: values the server decides (roles, hashes, owners, prices
#   paid) appear in no request model and are set by name in the endpoint.
# - Never copy a request onto a row wholesale, raw JSON least of all.
# - The response model is what is sent and what is documented: filter by leaving fields out of
#   the model, not by excluding them per route.

# %% [markdown]
# ## Filtering an answer is not leaving a field out
#
# The next cell serves one answer two ways: through a model that has the hash, with the hash
# filtered out per route (`response_model_exclude`), and through a model without it. The JSON
# is the same; the documents are not.

# %% tags=["evidence"]
class Everything(BaseModel):
    name: str
    hashed_password: str


class Visible(BaseModel):
    name: str


demo = FastAPI()
ALICE = {"name": "Alice", "hashed_password": "$argon2id$v=19$m=8192,t=2,p=1$..."}


@demo.get("/filtered", response_model=Everything, response_model_exclude={"hashed_password"})
async def filtered():
    return ALICE


@demo.get("/modelled", response_model=Visible)
async def modelled():
    return ALICE


with shop_client(demo) as client:
    for path in ("/filtered", "/modelled"):
        print(f"GET {path:<10} -> {describe(client.get(path))}")
        print(f"{'':>16} documented answer: {documented_fields(demo, 'GET', path)['answers']}")
