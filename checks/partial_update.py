"""Check: PATCH /books/{book_id} changes the fields it is sent and no other; an explicit null clears
the blurb and only an explicit null does; a null or an invalid value for a field that cannot take it
is refused with 422 and changes nothing; an empty PATCH changes nothing; an unknown book is a 404."""

import json

import pytest

from bookshop.client import open_client
from bookshop.observe import run_sql
from checks.feedback import expect
from checks.harness import brief, json_of, learner

__all__ = [
    "test_a_patch_changes_the_fields_it_sends_and_no_other",
    "test_an_explicit_null_clears_the_blurb",
    "test_an_empty_patch_changes_nothing",
    "test_a_null_for_a_field_that_cannot_be_empty_is_refused_with_422",
    "test_an_invalid_value_is_refused_with_422",
    "test_an_unknown_book_is_404",
]

NOT_NULL = {"isbn": "9780441172719", "title": "Dune", "author_id": 2, "price_cents": 1099, "stock": 5}

SENT_CONCEPT = ("A model can tell a field the client left out from one it sent: Pydantic records "
                "which fields were set, and the dump methods can leave out the rest. Only those may "
                "reach the row. FastAPI docs: 'Body - Updates', section 'Partial updates with "
                "PATCH'; Pydantic docs: 'Serialization', the exclude options.")
NULL_CONCEPT = ("'Left out' and 'sent as null' are two different requests. A field whose column "
                "cannot be empty may be optional (left out: unchanged) without being nullable "
                "(null: a 422 from validation, before anything is written). Pydantic does not "
                "validate a field's default, so the type describes what a client may send. "
                "Pydantic docs: 'Fields', 'Default values'.")


def _columns(url: str) -> list[str]:
    return [row[1] for row in run_sql(url, "PRAGMA table_info(books)")]


def _row(url: str, book_id: int) -> dict:
    columns = _columns(url)
    rows = run_sql(url, f"SELECT {', '.join(columns)} FROM books WHERE id = {book_id}")
    return dict(zip(columns, rows[0])) if rows else {}


def _differences(before: dict, after: dict) -> list[str]:
    return [f"{name}: {before.get(name)!r} -> {after.get(name)!r}" for name in after if before.get(name) != after.get(name)]


def _answered_the_row(response, row: dict) -> bool:
    body = json_of(response)
    return isinstance(body, dict) and body.get("id") == row.get("id") and all(
        body[name] == row[name] for name in body if name in row and name != "added_on")


@pytest.mark.anyio
async def test_a_patch_changes_the_fields_it_sends_and_no_other(kata_ns, shop_db):
    cases = ((3, {"price_cents": 1299}), (2, {"blurb": "Two worlds, one wall, and a physicist who climbs it."}))
    async with open_client(learner(kata_ns, "app")) as client:
        for book_id, body in cases:
            before = _row(shop_db, book_id)
            response = await client.patch(f"/books/{book_id}", json=body)
            after = _row(shop_db, book_id)
            expect(
                response.status_code == 200,
                f"PATCH /books/{book_id} with {json.dumps(body)} answered {brief(response)}. Book {book_id}'s row "
                f"is {'unchanged' if after == before else 'now: ' + '; '.join(_differences(before, after))}.",
                "Staff correct one field at a time. If a correction only works when it sends every "
                "field, none of them works, and the one that does send everything overwrites what "
                "it never meant to change.",
                nudge="Which values does the endpoint write to the row, and where do the values for "
                      "the fields the request left out come from?",
                concept=SENT_CONCEPT,
            )
            expected = {**before, **body}
            wrong = _differences(expected, after)
            expect(
                not wrong,
                f"PATCH /books/{book_id} with only {json.dumps(body)} answered 200, but the row is not the old row "
                f"with that one change: {'; '.join(wrong)} (what the row should hold -> what it holds).",
                "A PATCH that overwrites what it was not sent destroys data nobody asked to change: "
                "a price correction wipes the back-cover text, and nobody notices until a customer does.",
                nudge="Which values does the endpoint write to the row, and where do the values for "
                      "the fields the request left out come from?",
                concept=SENT_CONCEPT,
            )
            expect(
                _answered_the_row(response, after),
                f"PATCH /books/{book_id} answered {brief(response, 200)}, which is not the book as it is "
                f"now stored: {after}.",
                "The client shows the answer as the saved book.",
            )


@pytest.mark.anyio
async def test_an_explicit_null_clears_the_blurb(kata_ns, shop_db):
    before = _row(shop_db, 1)
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.patch("/books/1", json={"blurb": None})
    after = _row(shop_db, 1)
    expect(
        response.status_code == 200,
        f"PATCH /books/1 with {{\"blurb\": null}} answered {brief(response)}.",
        "Clearing a field is a correction like any other: the blurb of book 1 is wrong and must go.",
        nudge="What does the endpoint write for the fields the request did not send?",
        concept=SENT_CONCEPT,
    )
    expect(
        after.get("blurb") is None,
        f"PATCH /books/1 with {{\"blurb\": null}} answered 200, but book 1 still has its blurb: "
        f"{after.get('blurb')!r}.",
        "The client asked to clear the blurb and was told it was done. A PATCH that treats 'null' "
        "like 'not sent' has no way left to clear anything: the wrong text stays on the book's page.",
        nudge="A request that leaves the blurb out and one that sends it as null: does the endpoint "
              "see any difference between the two?",
        concept=NULL_CONCEPT,
    )
    wrong = _differences({**before, "blurb": None}, after)
    expect(
        not wrong,
        f"PATCH /books/1 with {{\"blurb\": null}} also changed: {'; '.join(wrong)}.",
        "A PATCH changes only what it is sent.",
        concept=SENT_CONCEPT,
    )


@pytest.mark.anyio
async def test_an_empty_patch_changes_nothing(kata_ns, shop_db):
    before = _row(shop_db, 5)
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.patch("/books/5", json={})
    after = _row(shop_db, 5)
    expect(
        response.status_code == 200 and after == before,
        f"PATCH /books/5 with {{}} answered {brief(response)}; the row "
        f"{'is unchanged' if after == before else 'changed: ' + '; '.join(_differences(before, after))}.",
        "An empty correction (a form saved with nothing edited, a retry) must be a harmless no-op "
        "that answers the book as it is, not an error or a change.",
        nudge="What does the endpoint write, or send to the database, when the request has no "
              "field at all?",
        concept=SENT_CONCEPT,
    )
    expect(_answered_the_row(response, after),
           f"PATCH /books/5 with {{}} answered {brief(response, 200)}, not the book as it is stored.",
           "The client shows the answer as the saved book.")


@pytest.mark.anyio
async def test_a_null_for_a_field_that_cannot_be_empty_is_refused_with_422(kata_ns, shop_db):
    before = _row(shop_db, 3)
    answers = {}
    async with open_client(learner(kata_ns, "app")) as client:
        for field in NOT_NULL:
            # Alone, and beside a valid change: the valid change must not be saved either.
            beside = {"title": "A valid new title"} if field == "price_cents" else {"price_cents": 1}
            for body in ({field: None}, {**beside, field: None}):
                answers[json.dumps(body)] = (field, await client.patch("/books/3", json=body))
    after = _row(shop_db, 3)
    wrong = {body: response for body, (_, response) in answers.items() if response.status_code != 422}
    listed = "; ".join(f"{body} -> {response.status_code if response.is_success else brief(response, 60)}"
                       for body, response in wrong.items())
    server_failures = [body for body, response in wrong.items() if response.status_code >= 500]
    expect(
        not wrong,
        f"PATCH /books/3 with a null for a field whose column cannot be empty was not refused with "
        f"422: {listed}.",
        "Sent as null, a title, an ISBN or a price is a mistake the client must hear about, with "
        "the field named. "
        + ("A 500 says the server broke: the database refused the empty value the endpoint tried "
           "to write, after validation had let it through, and the client cannot tell what to fix."
           if server_failures else
           "A 200 says the book was changed as asked, but the null was quietly dropped: the client "
           "believes a value was cleared that is still there."),
        nudge="Which fields of the update model accept null, and which columns of the table can "
              "hold it?",
        concept=NULL_CONCEPT,
    )
    unnamed = [body for body, (field, response) in answers.items() if field not in response.text]
    expect(
        not unnamed,
        f"PATCH /books/3 was refused with 422, but the answer does not name the field sent as null: "
        f"{'; '.join(f'{body} -> {brief(answers[body][1], 80)}' for body in unnamed)}.",
        "A client reads the 422 to learn what to fix: an answer that does not say which field was "
        "wrong leaves it guessing.",
        nudge="What does FastAPI answer when a request body fails the model's own validation?",
        concept=NULL_CONCEPT,
    )
    expect(
        after == before,
        f"The refused PATCH requests changed book 3: {'; '.join(_differences(before, after))}.",
        "A refused request must leave the row as it was, the valid changes sent beside the null "
        "included: the client was told nothing was done.",
    )


@pytest.mark.anyio
async def test_an_invalid_value_is_refused_with_422(kata_ns, shop_db):
    before = _row(shop_db, 3)
    async with open_client(learner(kata_ns, "app")) as client:
        answers = {json.dumps(body): await client.patch("/books/3", json=body)
                   for body in ({"price_cents": -5}, {"title": ""}, {"isbn": "978-0441172719"})}
    after = _row(shop_db, 3)
    wrong = "; ".join(f"{body} -> {response.status_code if response.is_success else brief(response, 60)}"
                      for body, response in answers.items() if response.status_code != 422)
    expect(
        not wrong,
        f"PATCH /books/3 with an invalid value was not refused with 422: {wrong}.",
        "A negative price, an empty title or a malformed ISBN must be refused before anything is "
        "written, with the field named, as they are when a book is created.",
        nudge="Did the rules on each field (minimum, length, pattern) survive the change?",
    )
    expect(after == before, f"The refused PATCH requests changed book 3: {'; '.join(_differences(before, after))}.",
           "A refused request must leave the row as it was.")


@pytest.mark.anyio
async def test_an_unknown_book_is_404(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.patch("/books/999", json={"price_cents": 100})
        empty = await client.patch("/books/999", json={})
    for body, answer in (("{\"price_cents\": 100}", response), ("{}", empty)):
        expect(
            answer.status_code == 404,
            f"PATCH /books/999 with {body}, for a book that does not exist, answered {brief(answer)}, not 404.",
            "A book that does not exist is a 404 the client can act on.",
        )
