"""The HTTP API: FastAPI app, routers per resource, RFC 9457 problem details on every error."""
