"""The bookshop every kata is set in: models, schemas, seed data and a database per run.

Each notebook imports what its lesson is not about from here, so the kata cell shows only the
code under discussion while the app around it stays a real FastAPI app on a real database.
"""
