"""HTTP only: routes, schemas, authentication and error mapping. Thin."""
