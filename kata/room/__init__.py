"""The room: a teacher's live view of a class, a small FastAPI service built as the workbook teaches.

    settings.py   what the room reads from the environment (the teacher's token is required)
    store.py      the SQLite database (SQLAlchemy async + aiosqlite): learners, results, reveals
    schemas.py    what comes in and what goes out, validated and bounded
    summary.py    the class at a glance: per kata done/failing/not started, who is stuck, on what
    guard.py      tokens compared in constant time, bounded request bodies, structured logs
    app.py        the FastAPI app: its lifespan owns the engine; one session per request
    page.py       the teacher's page (short polling of the JSON summary)
    folder.py     the shared-folder transport, for a JupyterHub without a reachable URL
    reader.py     the room reading that folder into its database
    client.py     the learner's side: join, and results sent in the background, kept until sent
    send.py       the background sender (`python -m kata.room.send ROOT`)
    export.py     `kata room report` (CSV, Markdown) and `kata report` (a learner's own page)
    commands.py   the `kata room ...`, `kata join`, `kata report` and `kata edition` commands

Nothing a learner wrote ever leaves their machine: a result names the kata, the status, the
failing tests' sentences and what the check observed, attempts, the hint level and times.
"""
