"""The embedded stack behind `make dev` and the tests, and the `onboarding` command line."""
