"""The public API: what lambda_destinations exports, and how it presents itself."""

from __future__ import annotations

from importlib import resources

import lambda_destinations
from lambda_destinations import testing


def test_all_is_sorted_and_every_name_exists():
    """__all__ lists the public names in sorted order, and each one is importable."""
    for module in (lambda_destinations, testing):
        assert module.__all__ == sorted(module.__all__)
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_public_objects_live_in_private_modules_or_topic_modules():
    """Exported classes come from private modules, re-exported; no private name leaks."""
    assert not [name for name in lambda_destinations.__all__ if name.startswith("_")]
    assert lambda_destinations.AsyncInvoker.__module__ == "lambda_destinations._invoker"


def test_the_package_ships_type_information():
    """py.typed is installed, so type checkers use the inline annotations."""
    assert resources.files("lambda_destinations").joinpath("py.typed").is_file()
