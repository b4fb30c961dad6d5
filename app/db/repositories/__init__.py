"""All SQL lives in these modules; each statement is compiled once (``app.db.query``)."""
