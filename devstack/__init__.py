"""The embedded stack behind `make dev` and the tests only: Temporal dev server, PostgreSQL, SMTP
sink, registry and partner-app stand-ins. The `onboarding` command line lives in cli/."""
