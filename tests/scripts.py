"""Running a Python script in a child process, for behaviour that only an exit can show."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def run_script(
    tmp_path: Path, source: str, *, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Write *source* (dedented) to a file in *tmp_path* and run it there with this Python."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        check=False,
    )


#: The console script pip installs beside this Python.
CONSOLE_SCRIPT = Path(sys.executable).parent / "lambda-destinations"

#: Environment variables that would change how rich draws (colour, terminal size) or where
#: AWS clients point; the command's tests run without them.
_DRAWING_AND_AWS = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS")


def cli_env(**extra: str) -> dict[str, str]:
    """The environment the command runs in for a test: this one, less what changes drawing."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _DRAWING_AND_AWS and not k.startswith("AWS_")
    }
    env["COLUMNS"] = "120"
    return env | extra


def run_cli(
    cwd: Path,
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    script: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m lambda_destinations ARGS`` in *cwd*, as a user would from a shell.

    With *script*, run the installed ``lambda-destinations`` console script instead.
    """
    command = [str(CONSOLE_SCRIPT)] if script else [sys.executable, "-m", "lambda_destinations"]
    return subprocess.run(
        [*command, *args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=cli_env() if env is None else env,
        check=False,
    )


def start_script(
    tmp_path: Path, source: str, *args: str, name: str = "script.py"
) -> subprocess.Popen[str]:
    """Write *source* (dedented) to *name* in *tmp_path* and start it there, without waiting.

    Its output goes to ``<name>.out`` in *tmp_path*, to read when a test fails. The script is
    replaced whole, never rewritten in place: a process started from it just before may still
    be reading it.
    """
    script = tmp_path / name
    written = tmp_path / f"{name}.tmp"
    written.write_text(textwrap.dedent(source))
    os.replace(written, script)
    out = (tmp_path / f"{name}.out").open("a")
    try:
        return subprocess.Popen(
            [sys.executable, str(script), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
    finally:
        out.close()
