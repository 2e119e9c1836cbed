"""Every ```python block of docs/testing.md and docs/decorator.md runs, so they cannot rot.

A block that defines ``test_`` functions is a pytest module: it runs in a pytester session with
this package's plugin and fixtures, and every test in it must pass. Any other block is a script
and is executed as ``__main__``. Each block is self-contained.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.md"
DECORATOR_DOC = DOC.with_name("decorator.md")
_FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    """One ```python block: its code and the line of the doc it starts on."""

    code: str
    line: int
    doc: Path = DOC

    @property
    def tests(self) -> list[str]:
        """Names of the test functions the block defines (sync or async)."""
        return [
            node.name
            for node in ast.parse(self.code).body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")
        ]


def python_blocks(text: str, doc: Path = DOC) -> list[Block]:
    return [
        Block(match.group(1), text.count("\n", 0, match.start()) + 2, doc)
        for match in _FENCE.finditer(text)
    ]


def run_block(block: Block, pytester: pytest.Pytester) -> None:
    """Run *block* as a pytest module (if it defines tests) or as a script; raise if it fails."""
    names = block.tests
    if not names:
        code = compile(block.code, f"{block.doc}:{block.line}", "exec")
        exec(code, {"__name__": "__main__"})
        return
    pytester.makepyfile(**{f"test_doc_line_{block.line}": block.code})
    # pytest-asyncio, installed for the tests, warns (an error under -W error) when unset.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    # Hypothesis's plugin would import hypothesis afresh in every in-process sub-session.
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-W", "error"
    )
    assert result.ret == 0, f"docs/{block.doc.name} block at line {block.line} failed"
    result.assert_outcomes(passed=len(names))


BLOCKS = python_blocks(DOC.read_text(encoding="utf-8"))
DECORATOR_BLOCKS = python_blocks(DECORATOR_DOC.read_text(encoding="utf-8"), DECORATOR_DOC)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"line-{b.line}" for b in BLOCKS])
def test_doc_block_runs(block: Block, pytester: pytest.Pytester) -> None:
    """The block at this line of docs/testing.md runs and all its tests pass."""
    run_block(block, pytester)


@pytest.mark.parametrize(
    "block", DECORATOR_BLOCKS, ids=[f"line-{b.line}" for b in DECORATOR_BLOCKS]
)
def test_decorator_doc_block_runs(block: Block, pytester: pytest.Pytester) -> None:
    """The block at this line of docs/decorator.md runs and all its tests pass."""
    run_block(block, pytester)


def test_the_doc_has_both_kinds_of_blocks() -> None:
    """The extraction finds the doc's blocks: scripts and pytest modules, each self-contained."""
    assert len(BLOCKS) >= 8
    scripts = [b for b in BLOCKS if not b.tests]
    modules = [b for b in BLOCKS if b.tests]
    assert len(scripts) >= 2
    assert len(modules) >= 6
    assert all(re.search(r"^asyncio\.run\(main\(\)\)$", b.code, re.MULTILINE) for b in scripts)


def test_a_failing_test_in_a_block_fails_the_run(pytester: pytest.Pytester) -> None:
    """A block whose test fails makes run_block raise."""
    block = Block("async def test_broken(invoker_factory):\n    assert 1 == 2\n", 1)
    with pytest.raises(AssertionError, match="block at line 1 failed"):
        run_block(block, pytester)


def test_a_block_using_an_unknown_fixture_fails_the_run(pytester: pytest.Pytester) -> None:
    """A block whose test errors at setup (a misspelt fixture) makes run_block raise."""
    block = Block("async def test_typo(invoker_factroy):\n    pass\n", 1)
    with pytest.raises(AssertionError):
        run_block(block, pytester)


def test_a_broken_script_block_fails_the_run(pytester: pytest.Pytester) -> None:
    """A script block that raises makes run_block raise, naming the doc's line."""
    block = Block(
        "import asyncio\n\n\nasync def main():\n    raise KeyError('x')\n\n\nasyncio.run(main())\n",
        40,
    )
    with pytest.raises(KeyError) as info:
        run_block(block, pytester)
    assert any(entry.path == f"{DOC}:40" for entry in info.traceback)


README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_example_runs():
    """The README's usage example runs as written and ends with a success record."""
    (block,) = python_blocks(README.read_text(encoding="utf-8"))
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec(compile(block.code, f"{README}:{block.line}", "exec"), namespace)
    ok = namespace["ok"]
    assert len(ok.records) == 1  # type: ignore[attr-defined]


def test_the_api_reference_is_generated_from_the_current_code():
    """docs/api.md is what ``make api`` writes now: every public name, none out of date."""
    from tools.api_reference import PAGE, render

    assert PAGE.read_text(encoding="utf-8") == render(), "docs/api.md is out of date: run make api"
