"""Temporal activities: every side effect of an onboarding, each retryable and idempotent."""
