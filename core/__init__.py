"""Plumbing shared by every entry point: settings, logging, the Temporal client factory."""
