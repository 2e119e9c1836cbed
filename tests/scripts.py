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
