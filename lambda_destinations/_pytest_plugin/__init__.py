"""pytest plugin, registered through the ``pytest11`` entry point: installing is enough.

Fixtures: ``virtual_clock``, ``invoker_factory``, ``override_invoker``,
``in_memory_destination`` and ``in_memory_dlq``. It runs ``async def`` tests that no other
async plugin claims on a fresh event loop.

Whatever runs an ``async def`` test that uses the fixtures (this plugin, pytest-asyncio or
anyio), the test function is wrapped so that, on the test's own loop, once its body returns:
the invokers ``invoker_factory`` made are drained and closed, events that still did not end
fail the test, naming them, and the virtual clock lets go of the loop. A wall-clock guard stops
such a test after ``wall_timeout`` real seconds (virtual time never stops a test that hangs).
A plain ``def`` test's invokers run on the background loop; they are drained, closed and
reported at teardown, and the clock lets go of that loop too.

pytest finds the hooks and fixtures among this module's names, so each is imported here:

- ``_options``: the marker and the ini option, and a test's wall-clock limit.
- ``_async_tests``: the hooks that run ``async def`` tests, and wrap them.
- ``_guard``: the wall-clock guard.
- ``_invokers``: the invokers the factory made, and their closing after a plain ``def`` test.
- ``_messages``: what a test fails with.
- ``_fixtures``: the fixtures.
"""

from ._async_tests import pytest_pyfunc_call, pytest_runtest_call
from ._fixtures import (
    in_memory_destination,
    in_memory_dlq,
    invoker_factory,
    override_invoker,
    virtual_clock,
)
from ._options import pytest_addoption, pytest_configure

__all__ = [
    "in_memory_destination",
    "in_memory_dlq",
    "invoker_factory",
    "override_invoker",
    "pytest_addoption",
    "pytest_configure",
    "pytest_pyfunc_call",
    "pytest_runtest_call",
    "virtual_clock",
]
