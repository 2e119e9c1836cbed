"""The public API: what lambda_destinations exports, and how it presents itself."""

from __future__ import annotations

import ast
import graphlib
from importlib import resources
from pathlib import Path

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


def module_imports(package: Path) -> dict[str, set[str]]:
    """Each module of *package* → the package's modules it imports, anywhere in its text.

    Imports inside functions and under ``TYPE_CHECKING`` count too: they are circles a reader
    has to follow all the same, and the next refactoring turns them into real ones.
    """
    names = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for module, path in names.items():
        here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = here[: len(here) - node.level + 1]
                    base = ".".join([*parent, *([node.module] if node.module else [])])
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    found.add(submodule if submodule in names else base)
        graph[module] = {name for name in found if name in names and name != module}
    return graph


def test_no_module_imports_another_that_imports_it_back():
    """The modules form no import circle, even through lazy or type-checking-only imports."""
    package = Path(lambda_destinations.__file__).parent
    try:
        tuple(graphlib.TopologicalSorter(module_imports(package)).static_order())
    except graphlib.CycleError as error:
        raise AssertionError(f"import circle: {' -> '.join(error.args[1])}") from None
