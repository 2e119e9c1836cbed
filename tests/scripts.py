"""Running a Python script in a child process, for behaviour that only an exit can show."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
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


# Put before a child's own source: SIGINT raises KeyboardInterrupt, as when a program runs in
# a terminal, even if this suite runs where SIGINT is ignored (a shell's background job), which
# the child would inherit.
_SIGINT_AS_IN_A_TERMINAL = (
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
)


def sigint_as_in_a_terminal() -> None:
    """For ``Popen(preexec_fn=...)`` of a program not our own: SIGINT's default, not inherited.

    A child inherits an ignored SIGINT; with the default, Python raises KeyboardInterrupt.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Child:
    """A Python script running in a child process, to send it signals and watch its stderr.

    Every wait has a deadline and fails the test with what the child wrote so far; nothing
    waits a fixed time. Use it as a context manager: a child still running at the end of the
    block (the test failed) is killed.
    """

    def __init__(self, tmp_path: Path, source: str) -> None:
        script = tmp_path / "child.py"
        script.write_text(_SIGINT_AS_IN_A_TERMINAL + textwrap.dedent(source))
        self._process = subprocess.Popen(
            [sys.executable, str(script)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stdout: list[str] = []
        self.stderr = ""
        self._readers = [
            threading.Thread(target=self._read_stderr, daemon=True),
            threading.Thread(target=self._read_stdout, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()
        for reader in self._readers:
            reader.join(10)  # the pipes reach their end once the child has exited
        for pipe in (self._process.stdout, self._process.stderr):
            if pipe is not None:
                pipe.close()

    def _read_stderr(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            self._lines.put(line)
        self._lines.put(None)

    def _read_stdout(self) -> None:
        assert self._process.stdout is not None
        self._stdout.extend(self._process.stdout)

    def wait_for(self, text: str, deadline: float = 60) -> str:
        """The first line of stderr from here on that contains *text*."""
        end = time.monotonic() + deadline
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                self.kill()
                msg = f"no line with {text!r} on stderr within {deadline} s:\n{self.stderr}"
                raise AssertionError(msg) from None
            if line is None:
                msg = f"the child ended before writing {text!r}:\n{self.stderr}"
                raise AssertionError(msg)
            self.stderr += line
            if text in line:
                return line

    def interrupt(self) -> None:
        """Send SIGINT, as Ctrl-C in a terminal does."""
        self._process.send_signal(signal.SIGINT)

    def finish(self, deadline: float = 60) -> tuple[int, str, str]:
        """Wait for the child to exit: its return code, stdout, and all of its stderr."""
        try:
            returncode = self._process.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            self.kill()
            msg = f"the child did not exit within {deadline} s:\n{self.stderr}"
            raise AssertionError(msg) from None
        while (line := self._lines.get(timeout=deadline)) is not None:
            self.stderr += line
        self._readers[1].join(deadline)
        return returncode, "".join(self._stdout), self.stderr

    def kill(self) -> None:
        """End the child at once (a test that failed does not leave it running)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()


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
