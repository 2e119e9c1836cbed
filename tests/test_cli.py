"""The ``lambda-destinations`` command, driven as a user drives it: in a child process.

Handler loading as Lambda's init phase reports it, events, destinations, output streams, the
progress bar and timeline, and every exit status. Templates are in test_cli_template.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pty
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from lambda_destinations._settings import check_range
from lambda_destinations.cli import build_parser

from tests.aws import MotoAws
from tests.scripts import cli_env, run_cli, sigint_as_in_a_terminal

APP = """\
import os

def ok(event, context):
    print("printed by the handler")
    return {"got": event, "memory": context.memory_limit_in_mb, "stage": os.environ.get("STAGE")}

def by_event(event, context):
    if not event.get("Success"):
        raise ValueError("Failure from event, Success = false, I am failing!")
    return {"ok": True}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder holding app.py, the handlers the commands run."""
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# -- the command itself ---------------------------------------------------------------------


def test_console_script_and_python_m_are_the_same_command(tmp_path):
    """``lambda-destinations`` (the installed script) and ``python -m`` both answer --version."""
    installed = run_cli(tmp_path, "--version", script=True)
    module = run_cli(tmp_path, "--version")
    assert installed.returncode == module.returncode == 0
    assert installed.stdout == module.stdout
    assert re.fullmatch(r"lambda-destinations \d+\.\d+\.\d+\S*\n", module.stdout)


def test_help_explains_every_option(tmp_path):
    """``invoke --help`` lists every option of the command with its explanation."""
    result = run_cli(tmp_path, "invoke", "--help")
    assert result.returncode == 0
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    invoke = commands.choices["invoke"]
    help_text = " ".join(result.stdout.split())
    for action in invoke._actions:
        assert action.help, f"{action.option_strings or action.dest} has no help"
        for flag in action.option_strings:
            assert flag in result.stdout
        assert " ".join(action.help.split()[:4]) in help_text


def test_importing_the_library_loads_no_command_line_dependency(tmp_path):
    """``import lambda_destinations`` (and its __main__ module) loads neither yaml, rich nor the CLI."""
    source = """
        import sys
        import lambda_destinations, lambda_destinations.__main__
        heavy = ("yaml", "rich", "boto3", "opentelemetry", "lambda_destinations.cli")
        print(sorted(m for m in sys.modules if m.startswith(heavy)))
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"


# -- loading the handler, as Lambda's init phase ----------------------------------------------


@pytest.mark.parametrize(
    ("files", "target", "first_line"),
    [
        (
            {"broken.py": "import requestz\ndef handler(e, c): pass\n"},
            "broken.py:handler",
            "[ERROR] Runtime.ImportModuleError: Unable to import module 'broken': "
            "No module named 'requestz'",
        ),
        (
            {"app.py": APP},
            "app.py:missing",
            "[ERROR] Runtime.HandlerNotFound: Handler 'missing' missing on module 'app'",
        ),
        (
            {"app.py": APP},
            "app:missing",
            "[ERROR] Runtime.HandlerNotFound: Handler 'missing' missing on module 'app'",
        ),
        (
            {},
            "nowhere:handler",
            "[ERROR] Runtime.ImportModuleError: Unable to import module 'nowhere': "
            "No module named 'nowhere'",
        ),
        (
            {"bad.py": "def handler(event, context)\n    return 1\n"},
            "bad.py:handler",
            "[ERROR] Runtime.UserCodeSyntaxError: Syntax error in module 'bad': "
            "expected ':' (bad.py, line 1)",
        ),
        (
            {},
            "app",
            "[ERROR] Runtime.MalformedHandlerName: Bad handler 'app': "
            "not enough values to unpack (expected 2, got 1)",
        ),
        (
            {},
            "sys.handler",
            "[ERROR] Runtime.BuiltInModuleConflict: Cannot use built-in module sys as a "
            "handler module",
        ),
        (
            {"env.py": "import os\nTABLE = os.environ['TABLE_NAME']\n"},
            "env.py:handler",
            "[ERROR] KeyError: 'TABLE_NAME'",
        ),
        (
            {"five.py": "lambda_handler = 5\n"},
            "five.lambda_handler",
            "[ERROR] TypeError: Handler 'lambda_handler' on module 'five' is not callable, got "
            "int 5: define it as a function taking (event, context) or (event)",
        ),
        (
            {"three.py": "def lambda_handler(event, context, order):\n    return order\n"},
            "three.py:lambda_handler",
            "[ERROR] TypeError: handler three.lambda_handler requires 3 positional arguments: "
            "Lambda passes only (event, context); give the others defaults",
        ),
    ],
    ids=[
        "import-error",
        "no-function-in-file",
        "no-function-in-module",
        "no-module",
        "syntax-error",
        "malformed",
        "built-in-module",
        "module-raises",
        "not-callable",
        "three-arguments",
    ],
)
def test_handler_that_cannot_load_is_reported_as_lambda_does_and_exits_2(
    tmp_path, files, target, first_line
):
    """Init errors carry Lambda's runtime type and exact message; nothing is invoked.

    A handler Lambda loads but cannot call fails every event on Lambda with a TypeError: it
    is refused the same way, before the plan is printed, naming it without a memory address.
    """
    for name, source in files.items():
        (tmp_path / name).write_text(source)
    result = run_cli(tmp_path, "invoke", target, "--on-success", "-")
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == first_line
    assert result.stdout == ""


def test_module_that_raises_at_import_shows_its_traceback(tmp_path):
    """An exception in the module's own code is logged with the trace down to its line."""
    write(tmp_path / "env.py", "import os\nTABLE = os.environ['TABLE_NAME']\n")
    result = run_cli(tmp_path, "invoke", "env.py:handler")
    assert result.returncode == 2
    assert "Traceback (most recent call last):" in result.stderr
    assert 'env.py", line 2, in <module>' in result.stderr


def test_handler_directory_is_importable_as_on_lambda(tmp_path):
    """A handler file imports the modules beside it, from any working directory."""
    write(tmp_path / "src" / "shared.py", "GREETING = 'hello'\n")
    write(
        tmp_path / "src" / "fn.py",
        """
        from shared import GREETING
        def handler(event, context):
            return GREETING
        """,
    )
    result = run_cli(tmp_path, "invoke", "src/fn.py:handler", "--on-success", "-")
    assert result.returncode == 0, result.stderr
    (record,) = records(result.stdout)
    assert record["responsePayload"] == "hello"


def test_handler_directory_comes_first_on_the_path(tmp_path):
    """The handler's module wins over an installed module of the same name, as on Lambda."""
    write(tmp_path / "code" / "sched.py", "def handler(event, context):\n    return 'mine'\n")
    result = run_cli(tmp_path, "invoke", "code/sched.py:handler", "--on-success", "-")
    assert result.returncode == 0, result.stderr
    assert records(result.stdout)[0]["responsePayload"] == "mine"


@pytest.mark.parametrize(
    "target", ["pkg.orders:handler", "pkg.orders.handler", "pkg/orders.handler"]
)
def test_module_targets_import_from_the_working_directory(tmp_path, target):
    """``module:function`` and Lambda's own ``module.function`` import packages from here."""
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "orders.py", "def handler(event, context):\n    return 7\n")
    result = run_cli(tmp_path, "invoke", target, "--on-success", "-")
    assert result.returncode == 0, result.stderr
    assert records(result.stdout)[0]["responsePayload"] == 7


def test_file_that_python_would_not_import_is_refused(tmp_path):
    """A handler file named like a module already loaded (json.py) is named, not run instead."""
    write(tmp_path / "json.py", "def handler(event, context):\n    return 1\n")
    # The console script: `python -m` would itself import json from the working directory.
    result = run_cli(tmp_path, "invoke", "json.py:handler", script=True)
    assert result.returncode == 2
    assert result.stderr.startswith("lambda-destinations: error: ")
    assert "rename the file" in result.stderr


# -- running, and what goes where -------------------------------------------------------------


def test_records_go_to_stdout_and_everything_else_to_stderr(project):
    """Standard output holds only records; all else is on standard error; success is 0.

    Records are one JSON document a line; the handler's prints, the plan and the summary go
    to standard error.
    """
    result = run_cli(project, "invoke", "app.py:ok", "--event", '{"n": 1}', "--on-success", "-")
    assert result.returncode == 0, result.stderr
    (record,) = records(result.stdout)
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["functionArn"].endswith(":function:app:$LATEST")
    assert record["requestPayload"] == {"n": 1}
    assert record["responsePayload"]["got"] == {"n": 1}
    assert "printed by the handler" in result.stderr
    assert "summary: app, 1 event(s): 1 succeeded, 0 failed" in result.stderr


def test_failed_event_exits_1_with_record_dead_letter_and_summary(project):
    """An event that fails through its retries makes the exit status 1.

    Its on-failure record is on stdout, its DLQ message in a file in SQS's shape, and the
    summary counts it by condition.
    """
    result = run_cli(
        project,
        "invoke",
        "app.py:by_event",
        "--event",
        '{"Success": true}',
        "--event",
        '{"Success": false}',
        "--virtual-time",
        "--on-failure",
        "-",
        "--dlq",
        "dlq.jsonl",
    )
    assert result.returncode == 1, result.stderr
    (record,) = records(result.stdout)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    (letter,) = [json.loads(line) for line in (project / "dlq.jsonl").read_text().splitlines()]
    assert letter["Body"] == '{"Success": false}'
    attributes = letter["MessageAttributes"]
    assert attributes["RequestID"]["StringValue"] == record["requestContext"]["requestId"]
    assert attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    summary = result.stderr
    assert "2 event(s): 1 succeeded, 1 failed (RetriesExhausted 1)" in summary
    assert "attempts: 4 (3 function error(s), 0 throttle(s))" in summary
    assert "on-failure: 1 record(s) to standard output" in summary
    assert "dead-letter queue: 1 message(s) to dlq.jsonl" in summary
    assert "delivery failures: 0 to destinations, 0 to the dead-letter queue" in summary
    assert re.search(r"time: 180 s virtual, [\d.]+ s wall", summary)
    assert "ValueError: Failure from event, Success = false, I am failing!" in summary


def test_real_time_is_the_default(project):
    """Without --virtual-time the invoker runs on real time, and the summary says so."""
    result = run_cli(project, "invoke", "app.py:ok")
    assert result.returncode == 0, result.stderr
    assert "on real time" in result.stderr
    assert re.search(r"time: [\d.]+ s\n", result.stderr)
    assert "virtual" not in result.stderr


def test_settings_flags_reach_the_invoker(project):
    """--retries, --max-age, --memory and --function-name change what Lambda would do."""
    result = run_cli(
        project,
        "invoke",
        "app.py:by_event",
        "--event",
        "{}",
        "--virtual-time",
        "--max-age",
        "90",
        "--function-name",
        "orders",
        "--on-failure",
        "-",
    )
    (record,) = records(result.stdout)
    # AWS's look-ahead: with 90 s, one retry at +60 s, then the next wait would pass the age.
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert ":function:orders:$LATEST" in record["requestContext"]["functionArn"]
    result = run_cli(
        project, "invoke", "app.py:ok", "--memory", "512", "--retries", "0", "--on-success", "-"
    )
    assert records(result.stdout)[0]["responsePayload"]["memory"] == "512"


def test_zero_concurrency_sends_every_event_to_failure(project):
    """--concurrency 0 is reserved concurrency 0: no attempt, ZeroReservedConcurrency."""
    result = run_cli(project, "invoke", "app.py:ok", "--concurrency", "0", "--on-failure", "-")
    assert result.returncode == 1
    (record,) = records(result.stdout)
    assert record["requestContext"]["condition"] == "ZeroReservedConcurrency"
    assert "failed (ZeroReservedConcurrency 1)" in result.stderr


def test_ctrl_c_stops_waiting_for_retries_and_reports_what_did_not_end(project):
    """On real time, Ctrl-C during a retry wait ends the run at once with status 130."""
    with subprocess.Popen(
        [sys.executable, "-m", "lambda_destinations", "invoke", "app.py:by_event"],
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        # As in a terminal, even where this suite runs with SIGINT ignored (a background job).
        preexec_fn=sigint_as_in_a_terminal,
    ) as process:
        assert process.stderr is not None
        # A generous deadline: a command that never says it waits is killed, ending the read.
        guard = threading.Timer(60, process.kill)
        guard.start()
        try:
            seen = []
            # The first failed attempt says a retry is a minute away: the command is waiting.
            while True:
                line = process.stderr.readline()
                seen.append(line)
                if not line or line.startswith("an attempt failed"):
                    break
            assert seen[-1].startswith("an attempt failed: Lambda retries after about 1 minute")
            process.send_signal(signal.SIGINT)
            rest = process.stderr.read()
        finally:
            guard.cancel()
        assert process.wait(timeout=60) == 130
    assert "1 event(s): 0 succeeded, 0 failed, 1 unfinished" in rest
    assert rest.endswith(
        "lambda-destinations: interrupted; events that had not ended are not retried\n"
    )


def test_verbose_logs_lambdas_lines_stamped_with_virtual_time(project):
    """-v shows each attempt's START / END / REPORT lines at the virtual time they ran."""
    result = run_cli(project, "invoke", "app.py:by_event", "--virtual-time", "-v")
    assert result.returncode == 1
    for second in (0, 60, 180):
        assert re.search(
            rf"^\[\+{second} s\] INFO START RequestId: \S+ Version: \$LATEST$",
            result.stderr,
            re.MULTILINE,
        )
    assert "[+180 s] WARNING event" in result.stderr


def test_no_aws_limits_allows_settings_beyond_aws(project):
    """--no-aws-limits lets --max-age go under AWS's 60 s minimum."""
    result = run_cli(project, "invoke", "app.py:ok", "--max-age", "5", "--no-aws-limits")
    assert result.returncode == 0, result.stderr


def test_failed_delivery_is_counted_and_does_not_change_the_outcome(project):
    """A destination that cannot be written is a delivery failure: counted, logged, exit 0."""
    (project / "taken.jsonl").mkdir()
    result = run_cli(project, "invoke", "app.py:ok", "--on-success", "taken.jsonl")
    assert result.returncode == 0, result.stderr
    assert "delivery failures: 1 to destinations, 0 to the dead-letter queue" in result.stderr
    assert "on_success delivery of event" in result.stderr


# -- events ------------------------------------------------------------------------------------


def test_events_from_arguments_files_and_standard_input(project):
    """--event takes JSON, @file and -; --events a JSON Lines file with blank lines skipped."""
    (project / "one.json").write_text('{\n  "from": "file",\n  "n": 2\n}\n')
    (project / "many.jsonl").write_text('{"n": 3}\n\n{"n": 4}\n')
    result = run_cli(
        project,
        "invoke",
        "app.py:ok",
        "--event",
        '{"n": 1}',
        "--event",
        "@one.json",
        "--event",
        "-",
        "--events",
        "many.jsonl",
        "--on-success",
        "-",
        stdin='{"from": "stdin"}\n',
    )
    assert result.returncode == 0, result.stderr
    payloads = [r["requestPayload"] for r in records(result.stdout)]
    expected = [{"n": 1}, {"from": "file", "n": 2}, {"from": "stdin"}, {"n": 3}, {"n": 4}]
    assert sorted(payloads, key=json.dumps) == sorted(expected, key=json.dumps)
    assert "with 5 event(s)" in result.stderr


def test_an_event_is_kept_as_written_on_one_record_line(project):
    """A pretty-printed event keeps its spacing and key order, without its line breaks."""
    (project / "event.json").write_text('{\n  "b": 1,\n  "a": [1,  2]\n}\n')
    result = run_cli(project, "invoke", "app.py:ok", "--event", "@event.json", "--on-success", "-")
    (line,) = result.stdout.splitlines()
    assert '"requestPayload":{"b": 1,"a": [1,  2]}' in line


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({}, ["--event", "{oops"], "--event #1 is not JSON (Expecting property name"),
        ({}, ["--event", "@absent.json"], "--event #1: cannot read absent.json"),
        (
            {"events.jsonl": '{"n": 1}\n{"n": 2}\n{"n": 3,}\n'},
            ["--events", "events.jsonl"],
            "events.jsonl line 3 is not JSON",
        ),
        ({"events.jsonl": "\n\n"}, ["--events", "events.jsonl"], "holds no event"),
        ({}, ["--events", "absent.jsonl"], "--events: cannot read absent.jsonl"),
        ({}, ["--event", "NaN"], "NaN is not valid JSON"),
        (
            {"big.json": '"' + "x" * 1_048_577 + '"'},
            ["--event", "@big.json"],
            "byte payload is too large for the Event invocation type (limit 1048576 bytes)",
        ),
        ({}, ["--event", "-", "--events", "-"], "standard input (-) can be read only once"),
    ],
    ids=[
        "bad-json",
        "no-file",
        "bad-line",
        "empty-file",
        "no-events-file",
        "nan",
        "too-large",
        "stdin-twice",
    ],
)
def test_malformed_events_exit_2_naming_the_event(project, files, args, message):
    """Every event is checked before any runs; the message names the argument or line."""
    for name, text in files.items():
        (project / name).write_text(text)
    result = run_cli(project, "invoke", "app.py:ok", "--on-success", "-", *args, stdin="")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("lambda-destinations: error: ")
    assert message in line
    assert "printed by the handler" not in result.stderr


# -- usage errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "name the handler (TARGET, e.g. app.py:handler) or pass --template FILE"),
        (["app.py"], "TARGET 'app.py' names a file but no function: write app.py:handler"),
        (["missing.py:handler"], "there is no file missing.py"),
        (["app.py:ok", "--on-failure", "out.json"], "pass - (standard output), a .jsonl file"),
        (["app.py:ok", "--dlq", "no/dir/dlq.jsonl"], "the directory"),
        (["app.py:ok", "--function", "Fn"], "--function reads a template"),
        (["app.py:ok", "--resource", "Q=arn:aws:sqs:us-east-1:1:q"], "pass --template FILE too"),
        (["app.py:ok", "--on-success", "arn:aws:sqs"], "is not a complete ARN"),
    ],
    ids=[
        "nothing",
        "no-function",
        "no-file",
        "bad-target",
        "no-dir",
        "function",
        "resource",
        "arn",
    ],
)
def test_usage_errors_exit_2_with_one_line_saying_what_to_fix(project, args, message):
    """A mistake in the command line stops it before anything runs, in one line."""
    result = run_cli(project, "invoke", *args)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("lambda-destinations: error: ")
    assert message in line


@pytest.mark.parametrize(
    ("flag", "value", "setting", "number"),
    [
        ("--retries", "3", "maximum_retry_attempts", 3),
        ("--max-age", "30", "maximum_event_age_in_seconds", 30),
        ("--timeout", "901", "timeout", 901.0),
        ("--memory", "64", "memory_size", 64),
        ("--concurrency", "-1", "reserved_concurrency", -1),
    ],
)
def test_out_of_range_settings_get_the_librarys_message(project, flag, value, setting, number):
    """Numbers are checked by the library's table, with AWS's constraint message."""
    with pytest.raises(ValueError, match="out of range") as expected:
        check_range(setting, number, True)
    result = run_cli(project, "invoke", "app.py:ok", flag, value)
    assert result.returncode == 2
    text = str(expected.value).replace("Pass aws_limits=False", "Pass --no-aws-limits")
    assert result.stderr == f"lambda-destinations: error: {flag} {value}: {text}\n"


def test_argument_parser_errors_exit_2(project):
    """A flag's value of the wrong kind is refused by the parser, with exit status 2."""
    result = run_cli(project, "invoke", "app.py:ok", "--retries", "two")
    assert result.returncode == 2
    assert "argument --retries: invalid int value: 'two'" in result.stderr


# -- ARN destinations ------------------------------------------------------------------------------

_BLOCK_BOTO3 = """
import sys

class NoBoto3:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("boto3", "botocore"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoBoto3())
from lambda_destinations.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_arn_target_without_the_aws_extra_says_what_to_install(project):
    """With boto3 not importable, an ARN target names the extra to install; exit status 2."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _BLOCK_BOTO3,
            "invoke",
            "app.py:ok",
            "--on-failure",
            "arn:aws:sqs:us-east-1:123456789012:failures",
        ],
        capture_output=True,
        text=True,
        cwd=project,
        env=cli_env(),
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        "lambda-destinations: error: --on-failure arn:aws:sqs:us-east-1:123456789012:failures: "
    )
    assert "boto3" in line
    assert line.endswith("pip install 'lambda_destinations[aws]'")


_REGION = "us-east-1"
_ACCOUNT = "123456789012"


@pytest.fixture
def moto_endpoint(aws: MotoAws) -> str:
    """The session's moto server (tests/aws.py), emptied for this test."""
    return aws.endpoint_url


def _aws_env() -> dict[str, str]:
    return cli_env(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=_REGION,
    )


def _queue(endpoint: str, name: str) -> tuple[object, str]:
    """Create an SQS queue on the endpoint; return the client and the queue's URL."""
    boto3 = importlib.import_module("boto3")
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return sqs, sqs.create_queue(QueueName=name)["QueueUrl"]


def _received(sqs: object, url: str) -> list[dict]:
    response = sqs.receive_message(  # type: ignore[attr-defined]
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
    )
    return list(response.get("Messages", []))


def test_arn_targets_deliver_records_and_dead_letters_to_sqs(project, moto_endpoint):
    """--on-failure and --dlq ARNs with --endpoint-url: AWS's record and dead letter in SQS."""
    sqs, failures = _queue(moto_endpoint, "failures")
    _, dlq = _queue(moto_endpoint, "dlq")
    result = run_cli(
        project,
        "invoke",
        "app.py:by_event",
        "--event",
        '{"Success": false}',
        "--virtual-time",
        "--retries",
        "0",
        "--on-failure",
        f"arn:aws:sqs:{_REGION}:{_ACCOUNT}:failures",
        "--dlq",
        f"arn:aws:sqs:{_REGION}:{_ACCOUNT}:dlq",
        "--endpoint-url",
        moto_endpoint,
        "--region",
        _REGION,
        env=_aws_env(),
    )
    assert result.returncode == 1, result.stderr
    (message,) = _received(sqs, failures)
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    (letter,) = _received(sqs, dlq)
    assert letter["Body"] == '{"Success": false}'
    request_id = letter["MessageAttributes"]["RequestID"]["StringValue"]
    assert request_id == record["requestContext"]["requestId"]
    assert "delivery failures: 0 to destinations, 0 to the dead-letter queue" in result.stderr


def test_template_destinations_go_to_aws_with_their_deployed_arns(project, moto_endpoint):
    """--endpoint-url sends a template's destinations to AWS; --resource gives each ARN."""
    sqs, failures = _queue(moto_endpoint, "orders-failed")
    write(
        project / "template.yaml",
        """
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              Handler: app.by_event
              EventInvokeConfig:
                MaximumRetryAttempts: 0
                DestinationConfig:
                  OnFailure:
                    Type: SQS
                    Destination: !GetAtt Failed.Arn
          Failed:
            Type: AWS::SQS::Queue
        """,
    )
    result = run_cli(
        project,
        "invoke",
        "--template",
        "template.yaml",
        "--resource",
        f"Failed=arn:aws:sqs:{_REGION}:{_ACCOUNT}:orders-failed",
        "--endpoint-url",
        moto_endpoint,
        "--virtual-time",
        env=_aws_env(),
    )
    assert result.returncode == 1, result.stderr
    (message,) = _received(sqs, failures)
    assert json.loads(message["Body"])["requestContext"]["functionArn"].endswith(
        ":function:Fn:$LATEST"
    )


def test_arn_of_a_service_aws_cannot_deliver_to_is_refused(project):
    """An ARN that is no destination AWS supports stops the command, naming the option."""
    result = run_cli(
        project,
        "invoke",
        "app.py:ok",
        "--on-success",
        f"arn:aws:dynamodb:{_REGION}:{_ACCOUNT}:table/orders",
        env=_aws_env(),
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"lambda-destinations: error: --on-success arn:aws:dynamodb:{_REGION}:{_ACCOUNT}:"
        "table/orders: "
    )


# -- what people see: timeline and progress --------------------------------------------------------


def test_timeline_puts_attempts_on_one_time_axis(project):
    """--timeline draws attempts at +0, +60 and +180 s to scale, and each event's outcome."""
    result = run_cli(
        project,
        "invoke",
        "app.py:by_event",
        "--event",
        '{"Success": true}',
        "--event",
        '{"Success": false}',
        "--virtual-time",
        "--timeline",
    )
    lines = result.stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("timeline:"))
    ticks, succeeded, failed = lines[start + 1 : start + 4]
    assert failed.startswith("#2")
    marks = [m.start() for m in re.finditer("✗", failed)]
    assert len(marks) == 3
    first, second, third = marks
    # Waits of 60 s then 120 s: the second gap is twice the first, within a column.
    assert abs((third - second) - 2 * (second - first)) <= 1
    assert set(failed[first + 1 : third]) <= {"─", "✗"}
    for mark, label in zip(marks, ("+0 s", "+60 s", "+180 s"), strict=True):
        assert ticks[mark : mark + len(label)] == label
    assert failed.rstrip().endswith("RetriesExhausted, 3 attempt(s) at +180 s")
    assert succeeded.startswith("#1")
    assert succeeded.index("✓") == first
    assert succeeded.rstrip().endswith("Success, 1 attempt(s) at +0 s")


def _run_on_a_terminal(cwd: Path, *args: str) -> tuple[int, str]:
    """Run the command with standard error on a pseudo-terminal; return status and output."""
    main, secondary = pty.openpty()
    env = cli_env(TERM="xterm-256color")
    process = subprocess.Popen(
        [sys.executable, "-m", "lambda_destinations", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=secondary,
        env=env,
    )
    os.close(secondary)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closes when the command exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    status = process.wait(timeout=60)
    return status, b"".join(chunks).decode(errors="replace")


def test_progress_bar_is_drawn_for_many_events_on_a_terminal(project):
    """On a terminal, ten or more events get a progress bar counting ended events."""
    (project / "events.jsonl").write_text("".join(f'{{"n": {i}}}\n' for i in range(12)))
    status, output = _run_on_a_terminal(
        project, "invoke", "app.py:ok", "--events", "events.jsonl", "--virtual-time"
    )
    assert status == 0
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    assert "12/12" in plain
    assert "━" in plain


def test_no_progress_bar_when_standard_error_is_not_a_terminal(project):
    """Piped, the same run writes no bar: only lines a log file can keep."""
    (project / "events.jsonl").write_text("".join(f'{{"n": {i}}}\n' for i in range(12)))
    result = run_cli(project, "invoke", "app.py:ok", "--events", "events.jsonl", "--virtual-time")
    assert result.returncode == 0
    assert "━" not in result.stderr
    assert "\x1b[" not in result.stderr


# -- the shipped example -----------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_shipped_example_runs_as_make_demo_runs_it(tmp_path):
    """The demo's command: the example template and events, one failure by design (exit 1)."""
    result = run_cli(
        tmp_path,
        "invoke",
        "--template",
        str(EXAMPLES / "template.yaml"),
        "--events",
        str(EXAMPLES / "events.jsonl"),
        "--virtual-time",
        "--timeline",
        "--out-dir",
        "out",
    )
    assert result.returncode == 1, result.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "OrderFailures.jsonl",
        "OrderResults.jsonl",
        "OrdersDeadLetters.jsonl",
    ]
    assert len((out / "OrderResults.jsonl").read_text().splitlines()) == 2
    assert "3 event(s): 2 succeeded, 1 failed (RetriesExhausted 1)" in result.stderr
