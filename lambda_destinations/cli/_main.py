"""The ``lambda-destinations`` entry point: arguments, exit statuses and one-line errors.

Exit status 0: every event succeeded. 1: at least one event ended in failure (or did not end).
2: the command could not run as asked (a usage, template, event or handler error), with one
line on standard error saying what to fix; a handler that fails to load is reported as
Lambda's runtime logs it (``[ERROR] Runtime.ImportModuleError: ...``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Final

from lambda_destinations._exceptions import LambdaDestinationsError

from ._exit import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from ._handler import HandlerInitError

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

PROG: Final = "lambda-destinations"
CLI_EXTRA: Final = "pip install 'lambda_destinations[cli]'"

_DESCRIPTION = """\
Run a Lambda handler the way Lambda runs an asynchronous (Event) invocation: an internal queue,
AWS's retries and maximum event age, execution records to on-success and on-failure
destinations, and a dead-letter queue. Settings come from flags or from a SAM/CloudFormation
template. Records go to standard output (with -) or files; everything else to standard error.
"""

_INVOKE_EPILOG = """\
exit status: 0 every event succeeded, 1 an event ended in failure, 2 the command could not run
(usage, template, event or handler error).

examples:
  lambda-destinations invoke handler.py:lambda_handler --event '{"Success": false}' \\
      --virtual-time --on-failure - --dlq dlq.jsonl
  lambda-destinations invoke --template template.yaml --function OrdersFn --events events.jsonl
  python -m lambda_destinations invoke app.orders:handler --event @event.json --retries 0
"""


def _package_version() -> str:
    try:
        return version("lambda_destinations")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments; ``--help`` explains each."""
    parser = argparse.ArgumentParser(prog=PROG, description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"{PROG} {_package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    invoke = commands.add_parser(
        "invoke",
        help="invoke a handler asynchronously with one or more events",
        usage="%(prog)s [TARGET | --template FILE] [options]",
        description=_DESCRIPTION,
        epilog=_INVOKE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    invoke.add_argument(
        "target",
        nargs="?",
        metavar="TARGET",
        help="the handler: module:function (imported from the current directory), "
        "path/to/file.py:function (imported from the file's directory), or Lambda's own "
        "module.function; leave it out with --template",
    )
    events = invoke.add_argument_group("events (default: one empty event {})")
    events.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="JSON|@FILE|-",
        help="an event: a JSON document, @file.json to read one from a file, or - to read one "
        "from standard input; repeat for more events",
    )
    events.add_argument(
        "--events",
        metavar="FILE",
        help="a JSON Lines file: one event a line (- for standard input); a malformed line "
        "is reported with its number",
    )
    template = invoke.add_argument_group("template")
    template.add_argument(
        "--template",
        metavar="FILE",
        help="a SAM or CloudFormation template (YAML with !Ref, !GetAtt, !Sub ... or JSON) "
        "to read the function's Handler, CodeUri, Timeout, MemorySize, "
        "ReservedConcurrentExecutions, EventInvokeConfig, DeadLetterQueue and Globals from; "
        "flags override what it says",
    )
    template.add_argument(
        "--function",
        metavar="LOGICAL_ID",
        help="the function's logical id in the template (needed when it has several)",
    )
    template.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="values for the template's parameters (else their Default)",
    )
    template.add_argument(
        "--out-dir",
        metavar="DIR",
        default=".",
        help="where the template's destinations are written as LOGICAL_ID.jsonl files when "
        "they are not sent to AWS (default: the current directory)",
    )
    function = invoke.add_argument_group("function")
    function.add_argument(
        "--function-name",
        metavar="NAME",
        help="the function name records carry (default: the template's FunctionName or "
        "logical id, else the handler's module name)",
    )
    function.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="Lambda's timeout, 1..900 (default 3)"
    )
    function.add_argument(
        "--memory", type=int, metavar="MB", help="memory size in MB, 128..10240 (default 128)"
    )
    function.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help="reserved concurrency: attempts that may run at once; 0 sends every event "
        "straight to failure with ZeroReservedConcurrency (default: no reservation)",
    )
    config = invoke.add_argument_group("asynchronous invocation (EventInvokeConfig)")
    config.add_argument(
        "--retries",
        type=int,
        metavar="N",
        help="MaximumRetryAttempts, 0..2 (default 2): retries after a function error, about "
        "1 minute and then 2 more minutes later",
    )
    config.add_argument(
        "--max-age",
        type=int,
        metavar="SECONDS",
        help="MaximumEventAgeInSeconds, 60..21600 (default 21600)",
    )
    for flag, what in (
        ("--on-success", "the on-success destination: each successful event's record"),
        ("--on-failure", "the on-failure destination: each failed event's record"),
        ("--dlq", "the dead-letter queue: each failed event, with its error attributes"),
    ):
        config.add_argument(
            flag,
            metavar="TARGET",
            help=f"{what}; - for standard output (one JSON document a line), a .jsonl file "
            "(appended to), or an ARN (needs the aws extra)",
        )
    config.add_argument(
        "--no-aws-limits",
        action="store_true",
        help="allow settings outside AWS's ranges (say, --max-age 5)",
    )
    aws = invoke.add_argument_group("AWS (ARN destinations)")
    aws.add_argument(
        "--aws",
        action="store_true",
        help="send the template's destinations to AWS at their ARNs instead of local files "
        "(boto3's usual credentials and settings)",
    )
    aws.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="the AWS endpoint to send to (LocalStack, moto); implies --aws for the template",
    )
    aws.add_argument(
        "--region",
        metavar="REGION",
        help="the AWS region of the function's ARN and of AWS clients (default: AWS_REGION, "
        "AWS_DEFAULT_REGION, else us-east-1)",
    )
    aws.add_argument(
        "--resource",
        action="append",
        default=[],
        metavar="LOGICAL_ID=ARN",
        help="the ARN of a template resource where it is deployed, for --aws / --endpoint-url",
    )
    run = invoke.add_argument_group("running and output")
    run.add_argument(
        "--virtual-time",
        action="store_true",
        help="run retry waits and event ages on a virtual clock: three minutes of retries "
        "take milliseconds (default: real time)",
    )
    run.add_argument(
        "--timeline",
        action="store_true",
        help="draw each event's attempts and waits on a time axis at the end",
    )
    run.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (it is drawn only when standard error is a terminal)",
    )
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log each retry decision and Lambda's START / END / REPORT lines",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with *argv* (default: the process's arguments); return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        from ._run import invoke_command
    except ImportError as e:
        if e.name not in ("rich", "yaml"):
            raise
        _error(f"the command line needs the cli extra: {CLI_EXTRA}")
        return EXIT_USAGE
    try:
        return invoke_command(args)
    except HandlerInitError as e:
        sys.stderr.write("\n".join(e.log_lines()) + "\n")
        return EXIT_USAGE
    except LambdaDestinationsError as e:
        _error(_for_the_command_line(str(e)))
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted; events that had not ended are not retried\n")
        return EXIT_INTERRUPTED


def _error(message: str) -> None:
    sys.stderr.write(f"{PROG}: error: {message}\n")


def _for_the_command_line(message: str) -> str:
    # The library's messages name its keyword argument; here the flag is what to pass.
    return message.replace("Pass aws_limits=False", "Pass --no-aws-limits")
