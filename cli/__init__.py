"""The `onboarding` command line: production tooling, a thin client of the other rooms."""
