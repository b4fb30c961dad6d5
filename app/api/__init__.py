"""HTTP only: REST routers, GraphQL, dependencies and problem+json rendering."""
