"""Temporal workflows: deterministic orchestration; they import domain/ models only."""
