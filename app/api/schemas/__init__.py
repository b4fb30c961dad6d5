"""Request and response schemas, separate from the database rows they are built from."""
