"""Pure domain: pydantic models and rules, no I/O. Safe to import from workflow code."""
