"""Loading a handler the way Lambda's Python runtime does in its init phase.

The runtime (awslambdaric's ``bootstrap._get_handler``) splits the handler setting at its last
dot, imports the module with the function's code directory first on ``sys.path``, and reports
each way this can fail as a fault with a fixed type and message. The same faults, with the same
text, are raised here as `HandlerInitError`; the command reports them as Lambda logs them.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from attrs import frozen

from lambda_destinations._exceptions import ConfigurationError, LambdaDestinationsError
from lambda_destinations._runtime import call_style

__all__ = ["HandlerInitError", "HandlerSpec", "load_handler"]

# The runtime's fault types (awslambdaric.lambda_runtime_exception.FaultException).
MALFORMED_HANDLER_NAME: Final = "Runtime.MalformedHandlerName"
IMPORT_MODULE_ERROR: Final = "Runtime.ImportModuleError"
USER_CODE_SYNTAX_ERROR: Final = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND: Final = "Runtime.HandlerNotFound"
BUILT_IN_MODULE_CONFLICT: Final = "Runtime.BuiltInModuleConflict"
#: What Lambda reports at every invocation of a handler it loaded but cannot call.
NOT_CALLABLE: Final = "TypeError"

_HERE: Final = os.path.dirname(__file__) + os.sep


class HandlerInitError(LambdaDestinationsError):
    """The handler could not be loaded: Lambda's init error, with its type and message.

    ``error_type`` and ``error_message`` are what Lambda puts in the error object and logs as
    ``[ERROR] <type>: <message>``; ``stack_trace`` holds the runtime's trace lines, if any.
    """

    def __init__(self, error_type: str, error_message: str, stack_trace: list[str]) -> None:
        super().__init__(f"{error_type}: {error_message}")
        self.error_type = error_type
        self.error_message = error_message
        self.stack_trace = stack_trace

    def error_object(self) -> dict[str, Any]:
        """The runtime's error object; init errors carry an empty request id."""
        return {
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "requestId": "",
            "stackTrace": self.stack_trace,
        }

    def log_lines(self) -> list[str]:
        """Lambda's log of the error: ``[ERROR] type: message``, then the trace if there is one."""
        lines = [f"[ERROR] {self.error_type}: {self.error_message}"]
        if self.stack_trace:
            lines.append("Traceback (most recent call last):")
            lines.extend(line.rstrip("\n") for line in self.stack_trace)
        return lines


@frozen
class HandlerSpec:
    """Which handler to load: Lambda's module path and function name, and where the code is.

    ``module`` is written as in Lambda's handler setting (``app``, ``pkg.app`` or
    ``src/app``); ``directory`` goes first on ``sys.path``, as the function's code directory
    does on Lambda.
    """

    module: str
    function: str
    directory: Path
    #: The file the command line named, to check it is the module Python imports.
    file: Path | None = None

    @property
    def setting(self) -> str:
        """The handler as Lambda's ``Handler`` setting writes it."""
        return f"{self.module}.{self.function}"

    @property
    def default_function_name(self) -> str:
        """A function name for records when none is given: the module's last part."""
        last = self.module.replace("/", ".").rsplit(".", 1)[-1]
        cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in last).strip("-")
        return (cleaned or "function")[:64]

    @classmethod
    def from_setting(cls, handler: str, directory: Path) -> HandlerSpec:
        """Lambda's ``Handler`` setting (``module.function``) for code in *directory*."""
        try:
            module, function = handler.rsplit(".", 1)
        except ValueError as e:
            raise HandlerInitError(
                MALFORMED_HANDLER_NAME, f"Bad handler '{handler}': {e}", []
            ) from None
        return cls(module, function, directory)

    @classmethod
    def from_target(cls, target: str, cwd: Path) -> HandlerSpec:
        """The command line's TARGET: ``module:function``, ``file.py:function`` or Lambda's form.

        A module is imported from *cwd*, a file from its own directory, as Lambda imports from
        the function's code directory.
        """
        where, colon, function = target.rpartition(":")
        if not colon:
            if target.endswith(".py"):
                msg = (
                    f"TARGET {target!r} names a file but no function: write "
                    f"{target}:handler (the function Lambda would call)"
                )
                raise ConfigurationError(msg)
            return cls.from_setting(target, cwd)
        if where.endswith(".py"):
            path = (cwd / where).resolve()
            if not path.is_file():
                msg = f"TARGET {target!r}: there is no file {where}; check the path"
                raise ConfigurationError(msg)
            return cls(path.stem, function, path.parent, path)
        return cls(where, function, cwd)


def load_handler(spec: HandlerSpec) -> Callable[..., Any]:
    """Import the handler as Lambda's runtime does; raise `HandlerInitError` if it cannot.

    The code directory goes first on ``sys.path`` and stays there, since a handler may import
    its own modules at call time. A handler Lambda would load but fail to call at every event
    (not callable, or needing more than ``(event, context)``) is refused here too, as a
    ``TypeError``, what Lambda reports for each of those events.
    """
    directory = str(spec.directory)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    modname, fname = spec.module, spec.function
    if modname.split(".")[0] in sys.builtin_module_names:
        raise HandlerInitError(
            BUILT_IN_MODULE_CONFLICT,
            f"Cannot use built-in module {modname} as a handler module",
            [],
        )
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise HandlerInitError(
            IMPORT_MODULE_ERROR, f"Unable to import module '{modname}': {e}", []
        ) from None
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise HandlerInitError(
            USER_CODE_SYNTAX_ERROR, f"Syntax error in module '{modname}': {e}", trace
        ) from None
    except Exception as e:  # noqa: BLE001 - the module's own code failed: Lambda reports it as is
        raise HandlerInitError(type(e).__name__, str(e), _user_frames(e)) from None
    if spec.file is not None:
        _check_same_file(module, spec.file)
    try:
        handler = getattr(module, fname)
    except AttributeError:
        raise HandlerInitError(
            HANDLER_NOT_FOUND, f"Handler '{fname}' missing on module '{modname}'", []
        ) from None
    _check_callable(handler, spec)
    return handler  # type: ignore[no-any-return]


def _check_callable(handler: object, spec: HandlerSpec) -> None:
    try:
        call_style(handler)
    except ConfigurationError as e:
        if callable(handler):
            message = str(e)
        else:
            message = (
                f"Handler '{spec.function}' on module '{spec.module}' is not callable, got "
                f"{type(handler).__name__} {handler!r}: define it as a function taking "
                "(event, context) or (event)"
            )
        raise HandlerInitError(NOT_CALLABLE, message, []) from None


def _user_frames(error: BaseException) -> list[str]:
    # Like the runtime, drop the leading frames of the machinery that imported the module.
    frames = traceback.extract_tb(error.__traceback__)
    while frames and frames[0].filename.startswith(_HERE):
        frames.pop(0)
    return traceback.format_list(frames)


def _check_same_file(module: object, path: Path) -> None:
    loaded = getattr(module, "__file__", None)
    if loaded is not None and Path(loaded).resolve() == path:
        return
    name = getattr(module, "__name__", "?")
    msg = (
        f"{path}: Python imports the module {name!r} from {loaded or 'its built-ins'}, not from "
        "this file; rename the file so its name is not taken"
    )
    raise ConfigurationError(msg)
