"""The price list the console's price tests (API and browser) set up."""

from __future__ import annotations

PLANS = [
    {
        "code": "essentials",
        "name": "Essentials",
        "price": {"monthly_cents": 2900, "annual_cents": 29000},
        "add_ons": [
            {"code": "ocr", "name": "OCR", "price": {"monthly_cents": 500, "annual_cents": 5000}}
        ],
    },
    {
        "code": "premium",
        "name": "Premium",
        "price": {"monthly_cents": 4900, "annual_cents": 49000},
        "add_ons": [{"code": "payroll", "name": "Payroll"}],
    },
]
