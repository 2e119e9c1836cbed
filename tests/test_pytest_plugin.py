"""The pytest plugin inside real test suites: under each async runner, and for plain def tests.

Each test here runs a small test module in a pytest sub-session (pytester), configured as a
user's suite would be: this plugin beside pytest-asyncio (strict or auto mode) or anyio.
"""

from __future__ import annotations

import textwrap

import pytest

# How an async test is marked for each runner, and pytest-asyncio's mode in that suite.
RUNNERS = {
    "plugin": ("", "strict"),
    "asyncio-strict": ("@pytest.mark.asyncio", "strict"),
    "asyncio-auto": ("", "auto"),
    "anyio": ("@pytest.mark.anyio", "strict"),
}

# Hypothesis's plugin would import hypothesis afresh in every in-process sub-session.
SESSION_ARGS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-W", "error")

PREAMBLE = """
import asyncio
import threading

import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"


def fail(event):
    raise ValueError("down")


async def sleepy(event):
    await asyncio.sleep(3600)


@pytest.fixture
def blocked():
    # A sync handler stuck in its thread until the test ends: virtual time stands still.
    release, started = threading.Event(), threading.Event()

    def handler(event):
        started.set()
        release.wait()

    handler.started = started
    yield handler
    release.set()
"""


def run(pytester: pytest.Pytester, code: str, *, mode: str = "strict", ini: str = "", **kw):
    pytester.makeini(
        f"[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n{ini}"
    )
    pytester.makepyfile(PREAMBLE + textwrap.dedent(code).format(**kw))
    return pytester.runpytest_inprocess(*SESSION_ARGS)


@pytest.mark.parametrize("runner", RUNNERS)
def test_invokers_are_drained_and_what_did_not_end_fails_the_test(pytester, runner):
    """Under every runner an unjoined event still ends; one that cannot end fails its test.

    When an async test's body returns, invoker_factory drains and closes its invokers on the
    test's own loop (instantly on virtual time); an event still unfinished after that (here
    the invoker's drain_timeout is shorter than the handler) fails the test, named with its
    state and payload. What the test's own aclose() reported is the test's to check, and a
    test that failed on its own keeps its own failure, its invokers closed without draining.
    """
    mark, mode = RUNNERS[runner]
    result = run(
        pytester,
        """
        received, not_drained = [], []


        {mark}
        async def test_forgets_to_join(invoker_factory):
            invoker = invoker_factory(fail, on_failure=received.append)
            await invoker.invoke({{}})


        def test_the_unjoined_event_ended_after_the_test():
            assert [(r.condition.value, r.approximate_invoke_count) for r in received] == [
                ("RetriesExhausted", 3)
            ]


        {mark}
        async def test_an_event_outlives_the_drain(invoker_factory):
            invoker = invoker_factory(sleepy, timeout=900, drain_timeout=30)
            await invoker.invoke({{"order": 7}})


        {mark}
        async def test_fails_on_its_own(invoker_factory):
            await invoker_factory(fail, on_failure=not_drained.append).invoke({{}})
            raise AssertionError("the test's own failure")


        def test_a_failed_test_is_not_drained():
            assert not_drained == []


        {mark}
        async def test_closes_its_invoker_itself(invoker_factory):
            invoker = invoker_factory(sleepy, timeout=900)
            await invoker.invoke({{"order": 8}})
            (unfinished,) = await invoker.aclose(timeout=0)
            assert unfinished.state == "running"
        """,
        mode=mode,
        mark=mark,
    )
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*1 event(s) of test_an_event_outlives_the_drain had not ended when the test did*"
            '*sleepy * (running, 1 attempt(s), payload {"order": 7})*',
            "*AssertionError: the test's own failure*",
        ]
    )
    assert '{"order": 8}' not in result.stdout.str()


def test_plain_def_tests_each_start_on_a_clean_background_loop(pytester):
    """Plain def tests share the background loop, yet each test's clock drives it afresh.

    At teardown their invokers are drained on the background loop and the clock lets go of
    it: the next test's clock attaches, and reads exactly 180 s after the three attempts.
    An unjoined event still ends; one that cannot end within wall_timeout (a handler stuck in
    its thread: virtual time stands still) is reported at teardown.
    """
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        PREAMBLE
        + textwrap.dedent(
            """
            received = []


            def test_one(invoker_factory, virtual_clock, in_memory_destination):
                invoker = invoker_factory(fail, on_failure=in_memory_destination)
                invoker.invoke({})
                asyncio.run(invoker.join())
                assert virtual_clock.elapsed == 180
                assert len(in_memory_destination.records) == 1


            def test_two(invoker_factory, virtual_clock, in_memory_destination):
                invoker = invoker_factory(fail, on_failure=in_memory_destination)
                invoker.invoke({})
                asyncio.run(invoker.join())
                assert virtual_clock.elapsed == 180
                assert len(in_memory_destination.records) == 1


            def test_forgets_to_join(invoker_factory):
                invoker_factory(fail, on_failure=received.append).invoke({})


            def test_the_unjoined_event_ended_after_the_test():
                assert [r.approximate_invoke_count for r in received] == [3]


            @pytest.mark.lambda_destinations(wall_timeout=0.5)
            def test_an_event_outlives_the_drain(blocked, invoker_factory):
                invoker = invoker_factory(blocked, function_name="stuck", timeout=900)
                invoker.invoke({"order": 7})
                assert blocked.started.wait(timeout=60)  # running on the background loop
            """
        )
    )
    # A process of its own: the background loop is per process.
    result = pytester.runpytest_subprocess(*SESSION_ARGS)
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_an_event_outlives_the_drain*",
            "*test_an_event_outlives_the_drain had the drain of its invokers at teardown "
            "stopped after 0.5 s of real time*"
            '*stuck * (running, 1 attempt(s), payload {"order": 7})*',
        ]
    )


@pytest.mark.parametrize("runner", ["asyncio-module-loop", "anyio"])
def test_tests_sharing_one_loop_each_get_their_own_clock(pytester, runner):
    """Async tests that share an event loop each drive it with their own virtual clock.

    pytest-asyncio's loop_scope="module", and anyio's runner while a module-scoped async
    fixture lives, keep one loop for several tests; the clock of the test before lets go of
    it when that test ends.
    """
    mark = {
        "asyncio-module-loop": '@pytest.mark.asyncio(loop_scope="module")',
        "anyio": '@pytest.mark.anyio\n@pytest.mark.usefixtures("module_resource")',
    }[runner]
    result = run(
        pytester,
        """
        @pytest.fixture(scope="module")
        def anyio_backend():
            return "asyncio"


        @pytest.fixture(scope="module")
        async def module_resource():
            yield  # keeps anyio's runner, and its loop, for the whole module


        loops = set()


        {mark}
        async def test_one(invoker_factory, virtual_clock):
            loops.add(asyncio.get_running_loop())
            await invoker_factory(fail).invoke({{}})
            assert virtual_clock.elapsed == 0


        {mark}
        async def test_two(invoker_factory, virtual_clock):
            loops.add(asyncio.get_running_loop())
            assert len(loops) == 1
            invoker = invoker_factory(fail)
            await invoker.invoke({{}})
            await invoker.join()
            assert virtual_clock.elapsed == 180
        """,
        mark=mark,
    )
    result.assert_outcomes(passed=2)


def test_a_hanging_test_is_stopped_after_its_wall_timeout_naming_the_events(pytester):
    """A test that never ends fails after wall_timeout real seconds, under every runner.

    Virtual time cannot stop it: the handler is stuck in a thread, so no timer falls due.
    The failure names the events in flight, and how to allow longer.
    """
    result = run(
        pytester,
        """
        @pytest.mark.lambda_destinations(wall_timeout=0.5)
        async def test_plugin_runner(invoker_factory, blocked):
            invoker = invoker_factory(blocked, timeout=900)
            await invoker.invoke({{"runner": "plugin"}})
            await invoker.join()


        @pytest.mark.asyncio
        @pytest.mark.lambda_destinations(wall_timeout=0.5)
        async def test_pytest_asyncio(invoker_factory, blocked):
            invoker = invoker_factory(blocked, timeout=900)
            await invoker.invoke({{"runner": "asyncio"}})
            await invoker.join()


        @pytest.mark.anyio
        @pytest.mark.lambda_destinations(wall_timeout=0.5)
        async def test_anyio(invoker_factory, blocked):
            invoker = invoker_factory(blocked, timeout=900)
            await invoker.invoke({{"runner": "anyio"}})
            await invoker.join()
        """,
    )
    result.assert_outcomes(failed=3)
    for runner in ("plugin", "asyncio", "anyio"):
        result.stdout.fnmatch_lines(
            [
                "*was stopped after 0.5 s of real time (its wall_timeout*"
                f'*events still in flight: *(running, 1 attempt(s), payload {{"runner": "{runner}"}})*'
                "*@pytest.mark.lambda_destinations(wall_timeout=SECONDS)*",
            ]
        )


def test_the_wall_timeout_ini_option_guards_every_async_test_using_the_fixtures(pytester):
    """lambda_destinations_wall_timeout sets the guard for unmarked tests; a marker overrides it."""
    result = run(
        pytester,
        """
        async def test_waits_on_nothing(virtual_clock):
            virtual_clock.monotonic()
            await asyncio.Event().wait()  # no timer: the loop really waits


        @pytest.mark.lambda_destinations(wall_timeout=600)
        async def test_longer_allowed(invoker_factory):
            await invoker_factory(fail).invoke({{}})
        """,
        ini="lambda_destinations_wall_timeout = 0.5\n",
    )
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        ["*test_waits_on_nothing was stopped after 0.5 s*the test itself waits for something*"]
    )


@pytest.mark.parametrize("marker", ["(30)", "(wall_timeout='soon')", "(timeout=30)"])
def test_a_wrong_marker_is_refused_saying_what_it_takes(pytester, marker):
    """The marker takes only wall_timeout=, a positive number of seconds or None."""
    result = run(
        pytester,
        f"""
        @pytest.mark.lambda_destinations{marker}
        async def test_it(virtual_clock):
            pass
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ConfigurationError*it takes only wall_timeout=*"])


def test_a_wrong_ini_value_stops_the_session_saying_what_to_write(pytester):
    """lambda_destinations_wall_timeout must be a number of seconds (0: no limit)."""
    result = run(pytester, "", ini="lambda_destinations_wall_timeout = soon\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*lambda_destinations_wall_timeout = 'soon': give a number*"])


def test_override_invoker_puts_a_decorated_function_on_the_test_clock_until_the_test_ends(
    pytester,
):
    """override_invoker(fn, ...) runs a function decorated at import on the test's clock.

    The new invoker keeps the decorator's options (name, retries) with the overrides applied;
    in async and plain def tests alike it is drained and closed when the test ends, and the
    decorated function gets its own invoker back.
    """
    result = run(
        pytester,
        """
        from lambda_destinations import async_invoke

        production, received = [], []


        @async_invoke(function_name="charge", maximum_retry_attempts=1, on_failure=production.append)
        def charge(event, context):
            raise ValueError("card declined")


        original = charge.invoker


        async def test_async(override_invoker, virtual_clock, in_memory_destination):
            invoker = override_invoker(charge, on_failure=in_memory_destination)
            assert (charge.invoker, invoker.clock) == (invoker, virtual_clock)
            await charge.invoke({{"amount": 0}})
            await charge.join()
            assert virtual_clock.elapsed == 60
            (record,) = in_memory_destination.records
            assert record.approximate_invoke_count == 2
            assert record.request_context.function_arn.endswith(":function:charge:$LATEST")


        def test_plain_def(override_invoker, virtual_clock, in_memory_destination):
            override_invoker(charge, on_failure=in_memory_destination)
            charge.invoke({{"amount": 0}})  # on the background loop
            asyncio.run(charge.join())
            assert virtual_clock.elapsed == 60
            assert len(in_memory_destination.records) == 1


        async def test_unjoined(override_invoker):
            override_invoker(charge, on_failure=received.append)
            await charge.invoke({{"amount": 0}})


        def test_after_the_tests():
            assert charge.invoker is original
            assert [r.approximate_invoke_count for r in received] == [2]
            assert production == []
        """,
    )
    result.assert_outcomes(passed=4)
