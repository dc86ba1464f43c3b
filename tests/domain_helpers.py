"""What the domain's tests share."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import strategies as st

from domain.fiscal_calendar import FiscalYear, add_months

starts = st.dates(min_value=date(1950, 1, 1), max_value=date(2150, 12, 31))


@st.composite
def fiscal_years(draw: st.DrawFn) -> FiscalYear:
    """Any valid fiscal year: any start, any end from 1 month to 24 months later."""
    start = draw(starts)
    shortest = add_months(start, 1) - timedelta(days=1)
    longest = add_months(start, 24) - timedelta(days=1)
    return FiscalYear(start=start, end=draw(st.dates(min_value=shortest, max_value=longest)))
