"""The tests. Helpers they share live in modules of their own (factories.py, import_files.py,
eventually.py, the *_helpers.py modules), never in conftest.py or a test_*.py module
(tests/test_test_house.py checks); pytest rewrites the asserts of test modules and conftest only,
so it is told to rewrite those helpers' too (a failing helper then shows its values)."""

import pytest

pytest.register_assert_rewrite(
    "tests.factories",
    "tests.eventually",
    "tests.import_files",
    "tests.api_helpers",
    "tests.activity_helpers",
    "tests.cli_helpers",
    "tests.console_helpers",
    "tests.console_prices_helpers",
    "tests.domain_helpers",
    "tests.workflow_helpers",
    "tests.e2e.browser_helpers",
    "tests.e2e.helpers",
)
