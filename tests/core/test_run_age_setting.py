"""The maximum run age reaches every onboarding's input, within its bounds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from core.settings import Environment, Settings


def test_onboarding_timeouts_carry_the_maximum_run_age() -> None:
    """30 days unless set; the set value is what a new onboarding keeps for its life."""
    assert Settings(env=Environment.test).onboarding_timeouts().max_run_age == timedelta(days=30)
    settings = Settings(env=Environment.test, max_run_age_days=2.5)
    assert settings.onboarding_timeouts().max_run_age == timedelta(days=2, hours=12)


def test_maximum_run_age_under_a_day_is_refused() -> None:
    """A run continuing as new every few minutes would only burn history: at least a day."""
    with pytest.raises(ValidationError, match="max_run_age_days"):
        Settings(env=Environment.test, max_run_age_days=0.5)
