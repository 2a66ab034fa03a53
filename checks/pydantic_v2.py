"""Check: the catalogue's schemas do on Pydantic 2 what they were written to do (strip titles, read
ORM objects, document an example, clean ISBNs), and use nothing Pydantic 2 ignores or deprecates:
no setting under a Pydantic 1 name, no nested `Config` class, no Pydantic 1 validator, no
deprecated method called while requests are handled."""

import typing
import warnings

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from pydantic.warnings import PydanticDeprecationWarning

from bookshop.client import open_client
from bookshop.observe import run_sql
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_a_title_sent_with_spaces_is_stored_without_them",
    "test_the_book_page_reads_the_book_from_the_database",
    "test_the_api_docs_show_an_example_book",
    "test_an_isbn_with_hyphens_is_stored_as_13_digits",
    "test_a_feed_is_imported_entry_by_entry",
    "test_no_pydantic_deprecation_warning_while_requests_are_handled",
    "test_every_schema_setting_is_one_pydantic_2_reads",
    "test_no_schema_uses_a_pydantic_1_validator",
]

PYDANTIC_2_SETTINGS = frozenset(ConfigDict.__required_keys__ | ConfigDict.__optional_keys__)
WAY_OF_KINGS = {"isbn": "978-0-7653-2635-5", "title": "  The Way of Kings  ", "author_id": 2, "price_cents": 1299}
WORDS_OF_RADIANCE = {"isbn": "9780765365279", "title": "Words of Radiance", "author_id": 2, "price_cents": 1499}
DUNE = {"id": 3, "isbn": "9780441172719", "title": "Dune", "author_id": 2, "price_cents": 1099}

MIGRATION = ("Pydantic 2 renamed most Pydantic 1 settings, methods and decorators, and reads settings from "
             "a class attribute rather than a nested class. Pydantic docs: 'Migration guide', "
             "'Configuration'.")


def _models_in(annotation, found: dict) -> None:
    """Every Pydantic model an annotation refers to, the models their fields refer to, and their bases."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation is not BaseModel:
        for cls in annotation.__mro__:
            if isinstance(cls, type) and issubclass(cls, BaseModel) and cls is not BaseModel and cls not in found:
                found[cls] = None
                for field in getattr(cls, "model_fields", {}).values():
                    _models_in(field.annotation, found)
        return
    for argument in typing.get_args(annotation):
        _models_in(argument, found)


def _schemas(app) -> list[type[BaseModel]]:
    """The models the app's routes accept and answer, with the models they build on."""
    found: dict = {}
    for route in getattr(app, "routes", []):
        if isinstance(route, APIRoute):
            _models_in(route.response_model, found)
            for param in route.dependant.body_params:
                _models_in(param.field_info.annotation, found)
    return [cls for cls in found if not cls.__module__.startswith(("pydantic", "fastapi"))]


def _names(classes) -> str:
    return ", ".join(cls.__name__ for cls in classes)


@pytest.mark.anyio
async def test_a_title_sent_with_spaces_is_stored_without_them(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/books", json=WAY_OF_KINGS)
    expect(
        response.status_code == 201,
        f"POST /books with a new book answered {brief(response)}, not 201.",
        "Publishers must still be able to add books.",
    )
    stored = run_sql(shop_db, "SELECT title FROM books WHERE isbn = '9780765326355'")
    titles = [title for (title,) in stored]
    title = titles[0] if titles else ""
    spaces = f"{len(title) - len(title.lstrip())} space(s) before it and {len(title) - len(title.rstrip())} after"
    expect(
        titles == ["The Way of Kings"],
        f"POST /books with the title 'The Way of Kings' sent with 2 spaces before it and 2 after stored the "
        f"title {title.strip()!r} with {spaces}." if titles else
        "POST /books answered 201, but the database has no book with that ISBN.",
        "A title with stray spaces is another title: it sorts apart, a search for the exact title "
        "misses it, and the catalogue lists the same book twice. The schema was written to strip "
        "them; Pydantic 2 is not doing it.",
        nudge="Which line of BookCreate asks for surrounding spaces to be stripped, and does "
              "Pydantic 2 know that name?",
        concept=MIGRATION,
    )


@pytest.mark.anyio
async def test_the_book_page_reads_the_book_from_the_database(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        found = await client.get("/books/3")
        missing = await client.get("/books/999")
    expect(
        found.status_code == 200 and json_of(found) == DUNE,
        f"GET /books/3 answered {brief(found, 160)}, not the book Dune as the catalogue has it: {DUNE}.",
        "The book page is the shop's most visited page: every visit is an error, for every book.",
        nudge="What must BookRead be told before it may read the attributes of an ORM object, and "
              "under which name does Pydantic 2 look for that setting?",
        concept=MIGRATION,
    )
    expect(missing.status_code == 404, f"GET /books/999 answered {brief(missing)}, not 404.",
           "A book that does not exist is a 404 the client can act on.")


def _has_example(schema: dict) -> bool:
    if not isinstance(schema, dict):
        return False
    if schema.get("example") or schema.get("examples"):
        return True
    properties = schema.get("properties")
    return isinstance(properties, dict) and bool(properties) and all(
        isinstance(p, dict) and (p.get("example") is not None or p.get("examples")) for p in properties.values())


@pytest.mark.anyio
async def test_the_api_docs_show_an_example_book(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.get("/openapi.json")
    document = json_of(response)
    expect(
        response.status_code == 200 and isinstance(document, dict),
        f"GET /openapi.json answered {brief(response)}: the API docs cannot be built.",
        "The publishers' developers read the API from its docs.",
    )
    try:
        media = document["paths"]["/books"]["post"]["requestBody"]["content"]["application/json"]
    except (KeyError, TypeError):
        fail("The API docs (GET /openapi.json) describe no JSON body for POST /books.",
             "The publishers' developers read the API from its docs: without the body's schema they "
             "cannot tell what to send.")
    schema = media.get("schema") if isinstance(media, dict) else None
    reference = schema.get("$ref", "") if isinstance(schema, dict) else ""
    if isinstance(reference, str) and reference.startswith("#/components/schemas/"):
        components = document.get("components")
        schemas = components.get("schemas") if isinstance(components, dict) else None
        schema = schemas.get(reference.rsplit("/", 1)[1]) if isinstance(schemas, dict) else None
    documented = isinstance(media, dict) and (media.get("example") or media.get("examples")) or _has_example(schema)
    keys = sorted(schema) if isinstance(schema, dict) else []
    expect(
        documented,
        f"The API docs (GET /openapi.json) describe the body of POST /books with no example: its schema "
        f"has only the keys {', '.join(keys) or '(none)'}, and none of its fields has an example either.",
        "The docs are how the publishers' developers learn what a valid book looks like (an ISBN with "
        "or without hyphens? prices in cents?). The schema was written with an example; Pydantic 2 "
        "dropped it without a word.",
        nudge="Where does BookCreate declare its example, and does Pydantic 2 know that setting's name?",
        concept=MIGRATION + " FastAPI docs: 'Declare Request Example Data'.",
    )


@pytest.mark.anyio
async def test_an_isbn_with_hyphens_is_stored_as_13_digits(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        created = await client.post("/books", json={**WAY_OF_KINGS, "title": "The Way of Kings"})
        wrong = await client.post("/books", json={**WORDS_OF_RADIANCE, "isbn": "978-0-7653"})
    expect(
        created.status_code == 201,
        f"POST /books with the ISBN {WAY_OF_KINGS['isbn']} (hyphenated, as printed on the book) answered "
        f"{brief(created)}, not 201.",
        "Publishers copy ISBNs as they are printed, with hyphens; the shop stores the 13 digits. Refusing "
        "them turns every feed into a support ticket.",
        nudge="Does the ISBN still go through isbn_digits before any other check?",
    )
    stored = [isbn for (isbn,) in run_sql(shop_db, "SELECT isbn FROM books WHERE title = 'The Way of Kings'")]
    expect(
        stored == ["9780765326355"],
        f"POST /books with the ISBN {WAY_OF_KINGS['isbn']} stored {stored}, not the 13 digits 9780765326355.",
        "ISBNs are unique in the shop only as digits: with hyphens kept, the same book can be added twice.",
        nudge="Does the ISBN validator still run, and is its result what gets stored?",
    )
    expect(
        wrong.status_code == 422,
        f"POST /books with the ISBN 978-0-7653 (10 digits) answered {brief(wrong)}, not 422.",
        "A wrong ISBN must be refused with the reason, before anything is stored.",
        nudge="Does the ISBN validator still run?",
    )


@pytest.mark.anyio
async def test_a_feed_is_imported_entry_by_entry(kata_ns, shop_db):
    feed = [WORDS_OF_RADIANCE, {**WAY_OF_KINGS, "isbn": "not an isbn"}]
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/books/import", json=feed)
    report = json_of(response)
    stored = run_sql(shop_db, f"SELECT id FROM books WHERE isbn = '{WORDS_OF_RADIANCE['isbn']}'")
    expect(
        response.status_code == 200 and isinstance(report, dict)
        and report.get("rejected") == [1] and report.get("imported") == [row[0] for row in stored] and len(stored) == 1,
        f"POST /books/import with one good entry and one with a wrong ISBN answered {brief(response, 160)}; "
        f"the database has {len(stored)} book(s) from the good entry.",
        "A feed is checked entry by entry: the good entries are imported with their ids, the bad ones "
        "reported by position.",
        nudge="Does import_feed still validate each entry on its own, and store the ones that pass?",
    )


REQUESTS = (
    ("POST /books", "post", "/books", WAY_OF_KINGS),
    ("GET /books/3", "get", "/books/3", None),
    ("POST /books/import", "post", "/books/import", [WORDS_OF_RADIANCE]),
)


def _gist(message: str) -> str:
    """What a Pydantic deprecation warning says is deprecated, without what to use instead."""
    text = " ".join(message.split())
    for end in (" Deprecated in", "; use", ", use", ". You should", ". Use"):
        text = text.split(end)[0]
    return text.rstrip(".")


@pytest.mark.anyio
async def test_no_pydantic_deprecation_warning_while_requests_are_handled(kata_ns, shop_db):
    heard: dict[str, list[str]] = {}
    async with open_client(learner(kata_ns, "app")) as client:
        for label, method, path, body in REQUESTS:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                await client.request(method, path, json=body)
            said = [_gist(str(w.message)) for w in caught if issubclass(w.category, PydanticDeprecationWarning)]
            if said:
                heard[label] = list(dict.fromkeys(said))
    expect(
        not heard,
        "While the requests were handled, Pydantic warned: "
        + "; ".join(f"during {label}: {' / '.join(said)}" for label, said in heard.items()) + ".",
        "Each of these calls works today and is gone in Pydantic 3: the upgrade that removes them breaks "
        "the endpoints that make them, at run time, in production. Python's default filters hide "
        "these warnings outside tests, so nobody sees them coming, although they are raised on every "
        "request that makes these calls.",
        nudge="Which methods do the endpoints call on the models, and what are they called in Pydantic 2?",
        concept=MIGRATION,
    )


@pytest.mark.anyio
async def test_every_schema_setting_is_one_pydantic_2_reads(kata_ns):
    schemas = _schemas(learner(kata_ns, "app"))
    expect(
        schemas,
        "The app's routes accept and answer no Pydantic model: the check found no schema to look at.",
        "The catalogue's endpoints must still declare what they accept and answer.",
    )
    unknown = {cls: sorted(set(vars(cls).get("model_config", {})) - PYDANTIC_2_SETTINGS) for cls in schemas}
    unknown = {cls: keys for cls, keys in unknown.items() if keys}
    expect(
        not unknown,
        "These schemas carry settings Pydantic 2 does not read: "
        + "; ".join(f"{cls.__name__}: {', '.join(keys)}" for cls, keys in unknown.items())
        + ". Pydantic 2 keeps them in the model's settings and applies none of them.",
        "A setting Pydantic 2 does not know fails silently: one UserWarning when the class is created, "
        "then the model simply behaves as if the line were not there (no stripping, no ORM reading, no "
        "example), and nothing at run time says why.",
        nudge="Print each schema's model_config: which of its keys does Pydantic 2 know?",
        concept=MIGRATION,
    )
    nested = [cls for cls in schemas if isinstance(vars(cls).get("Config"), type)]
    expect(
        not nested,
        f"{_names(nested)} declare{'s' if len(nested) == 1 else ''} {'its' if len(nested) == 1 else 'their'} "
        "settings in a nested class Config. Pydantic 2 still reads it, and warns at class creation that "
        "this is deprecated since Pydantic 2.0 and removed in Pydantic 3.",
        "The schemas work today and break again, all at once, on the next major upgrade; the only warning "
        "is one line at startup that nobody reads.",
        nudge="Where does a Pydantic 2 model keep its settings, if not in a nested class?",
        concept=MIGRATION,
    )


@pytest.mark.anyio
async def test_no_schema_uses_a_pydantic_1_validator(kata_ns):
    schemas = _schemas(learner(kata_ns, "app"))
    old = {}
    for cls in schemas:
        decorators = getattr(cls, "__pydantic_decorators__", None)
        names = [*getattr(decorators, "validators", {}), *getattr(decorators, "root_validators", {})]
        if names:
            old[cls] = names
    expect(
        not old,
        "These schemas use Pydantic 1 validators, which Pydantic 2 runs through a compatibility shim: "
        + "; ".join(f"{cls.__name__}.{', '.join(names)}" for cls, names in old.items()) + ".",
        "The shim is deprecated since Pydantic 2.0 and removed in Pydantic 3: the upgrade that removes it "
        "breaks every schema still written this way, and every endpoint that accepts one.",
        nudge="Which decorator does Pydantic 2 offer for a validator of one field?",
        concept=MIGRATION + " Pydantic docs: 'Validators'.",
    )
