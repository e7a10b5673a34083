import pytest


def pytest_collection_modifyitems(items):  # every test here drives a real daemon
    for item in items:
        item.add_marker(pytest.mark.e2e)
