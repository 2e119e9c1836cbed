"""``invoke``: from the arguments to an `AsyncInvoker` run, and the report of it.

Everything a user can get wrong (settings, destinations, events, the handler) is checked
before the first event is invoked, in that order, so a mistake costs no run. The handler's
own output goes to standard error while it runs: standard output carries only records.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Final

from attrs import frozen
from rich.console import Console

from lambda_destinations import AsyncInvoker, Clock, ConfigurationError, SystemClock
from lambda_destinations._identity import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from lambda_destinations._settings import check_range
from lambda_destinations.testing import VirtualClock

from ._events import Event, read_events
from ._exit import EXIT_FAILED, EXIT_OK
from ._handler import HandlerSpec, load_handler
from ._report import PROGRESS_MIN_EVENTS, ProgressBar, RunReport, summary, timeline
from ._targets import AwsOptions, Target, open_target, parse_target
from ._template import FunctionTemplate, TemplateDestination, read_template
from ._watch import Watch

__all__ = ["invoke_command"]

_ROLES: Final = {
    "on_success": ("--on-success", "on-success"),
    "on_failure": ("--on-failure", "on-failure"),
    "dead_letter_queue": ("--dlq", "dead-letter queue"),
}


@frozen
class Plan:
    """What to run, every setting checked: the invoker's keyword arguments and the targets."""

    spec: HandlerSpec
    settings: Mapping[str, Any]
    targets: Mapping[str, Target]
    events: list[Event]
    virtual_time: bool
    verbose: bool
    progress: bool


def invoke_command(args: argparse.Namespace) -> int:
    """Run ``invoke`` and return its exit status; user errors raise the library's errors."""
    cwd = Path.cwd()
    # Lines are never wrapped: piped to a file, a message stays on its one line. No markup:
    # paths and messages are printed as they are, brackets included.
    console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
    stdout = sys.stdout.buffer
    plan, template = _plan(args, cwd, stdin=sys.stdin.buffer)
    aws = AwsOptions(args.endpoint_url, args.region)
    senders = {
        role: open_target(
            target,
            dead_letters=role == "dead_letter_queue",
            stdout=stdout,
            cwd=cwd,
            aws=aws,
        )
        for role, target in plan.targets.items()
    }
    if template is not None:
        os.environ.update(template.environment)
    with contextlib.redirect_stdout(sys.stderr):
        handler = load_handler(plan.spec)
        _say_plan(console, plan, template)
        report = asyncio.run(_run(plan, handler, senders, console))
    if args.timeline:
        timeline(console, report.traces, virtual=plan.virtual_time)
    summary(console, report)
    if report.interrupted:
        raise KeyboardInterrupt
    everything_succeeded = not report.unfinished and all(
        t.record is not None and t.record.is_success for t in report.traces
    )
    return EXIT_OK if everything_succeeded else EXIT_FAILED


# -- deciding what to run -----------------------------------------------------------------


def _plan(
    args: argparse.Namespace, cwd: Path, stdin: BinaryIO
) -> tuple[Plan, FunctionTemplate | None]:
    if args.template is None and args.target is None:
        msg = "name the handler (TARGET, e.g. app.py:handler) or pass --template FILE"
        raise ConfigurationError(msg)
    if args.template is not None and args.target is not None:
        msg = (
            f"TARGET {args.target!r} and --template both name the handler: pass one "
            "(the template's Handler and CodeUri say where the code is)"
        )
        raise ConfigurationError(msg)
    for flag, given in (
        ("--function", args.function),
        ("--parameter-overrides", args.parameter_overrides),
    ):
        if given and args.template is None:
            msg = f"{flag} reads a template: pass --template FILE too"
            raise ConfigurationError(msg)
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    region = region or DEFAULT_REGION
    aws_limits = not args.no_aws_limits
    template = None
    if args.template is not None:
        template = read_template(
            Path(args.template),
            args.function,
            parameters=_pairs(args.parameter_overrides, "--parameter-overrides", "KEY=VALUE"),
            pseudo=_pseudo_parameters(region, Path(args.template).stem),
            aws_limits=aws_limits,
        )
        spec = template.handler
    else:
        spec = HandlerSpec.from_target(args.target, cwd)
    settings = _settings(args, template, spec, region, aws_limits)
    targets = _targets(args, template, cwd)
    events = read_events(args.event, args.events, stdin, cwd)
    plan = Plan(
        spec, settings, targets, events, args.virtual_time, args.verbose, not args.no_progress
    )
    return plan, template


def _pseudo_parameters(region: str, stack: str) -> dict[str, str]:
    return {
        "AWS::Region": region,
        "AWS::AccountId": DEFAULT_ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": stack,
    }


def _pairs(items: list[str], flag: str, form: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key:
            msg = f"{flag} {item!r}: write {form}"
            raise ConfigurationError(msg)
        pairs[key] = value
    return pairs


def _settings(
    args: argparse.Namespace,
    template: FunctionTemplate | None,
    spec: HandlerSpec,
    region: str,
    aws_limits: bool,
) -> dict[str, Any]:
    # Flags win over the template; what neither sets keeps the library's (AWS's) default.
    flags = {
        "timeout": ("--timeout", args.timeout),
        "memory_size": ("--memory", args.memory),
        "reserved_concurrency": ("--concurrency", args.concurrency),
        "maximum_retry_attempts": ("--retries", args.retries),
        "maximum_event_age_in_seconds": ("--max-age", args.max_age),
    }
    settings: dict[str, Any] = {"region": region, "aws_limits": aws_limits}
    for name, (flag, value) in flags.items():
        if value is not None:
            try:
                check_range(name, value, aws_limits)
            except ConfigurationError as e:
                msg = f"{flag} {value:g}: {e}"
                raise ConfigurationError(msg) from None
            settings[name] = value
        elif template is not None and getattr(template, name) is not None:
            settings[name] = getattr(template, name)
    name = args.function_name
    if name is None:
        name = template.function_name if template is not None else spec.default_function_name
    settings["function_name"] = name
    return settings


def _targets(
    args: argparse.Namespace, template: FunctionTemplate | None, cwd: Path
) -> dict[str, Target]:
    to_aws = args.aws or args.endpoint_url is not None
    resources = _pairs(args.resource, "--resource", "LOGICAL_ID=ARN")
    if resources and template is None:
        msg = "--resource names ARNs of template resources: pass --template FILE too"
        raise ConfigurationError(msg)
    targets: dict[str, Target] = {}
    for role, (flag, _) in _ROLES.items():
        given = getattr(args, role if role != "dead_letter_queue" else "dlq")
        if given is not None:
            targets[role] = parse_target(given, flag)
            continue
        written = None if template is None else getattr(template, role)
        if written is not None:
            targets[role] = _template_target(written, template, to_aws, resources, args, cwd)
    return targets


def _template_target(
    written: TemplateDestination,
    template: FunctionTemplate | None,
    to_aws: bool,
    resources: Mapping[str, str],
    args: argparse.Namespace,
    cwd: Path,
) -> Target:
    assert template is not None
    origin = f"{template.source}: {template.logical_id} {_ROLES[written.role][1]}"
    if not to_aws:
        directory = cwd / args.out_dir
        directory.mkdir(parents=True, exist_ok=True)
        path = Path(args.out_dir) / f"{written.name}.jsonl"
        return Target("file", str(path), origin, note=f"{written.written}, as a local file")
    if written.arn is not None:
        return Target("arn", written.arn, origin, note=written.written)
    assert written.resource is not None
    if written.resource in resources:
        return Target("arn", resources[written.resource], origin, note=written.written)
    msg = (
        f"{origin} is {written.written}, which has an ARN only once deployed: pass "
        f"--resource {written.resource}=ARN, or leave out --aws / --endpoint-url to write "
        "it to a local file"
    )
    raise ConfigurationError(msg)


def _say_plan(console: Console, plan: Plan, template: FunctionTemplate | None) -> None:
    clock = "virtual time" if plan.virtual_time else "real time"
    name = plan.settings["function_name"]
    console.print(
        f"invoking {name} ({plan.spec.setting} in {plan.spec.directory}) with "
        f"{len(plan.events)} event(s) on {clock}",
        markup=False,
    )
    for role, target in plan.targets.items():
        note = f" ({target.note})" if target.note else ""
        console.print(f"  {_ROLES[role][1]} -> {target}{note}", markup=False)
    if template is not None:
        for variable, value in template.unset_environment.items():
            console.print(
                f"  environment variable {variable} is not set: {value} has no value "
                "before deployment",
                markup=False,
            )


# -- running ------------------------------------------------------------------------------


async def _run(
    plan: Plan,
    handler: Callable[..., Any],
    senders: Mapping[str, Any],
    console: Console,
) -> RunReport:
    """Run every event to its end, or until Ctrl-C."""
    clock: Clock = VirtualClock() if plan.virtual_time else SystemClock()
    wide = len(plan.events) >= PROGRESS_MIN_EVENTS or not plan.virtual_time
    bar = ProgressBar(console, len(plan.events), enabled=wide and plan.progress)
    watch = Watch(clock, on_end=bar.advance)
    retries = plan.settings.get("maximum_retry_attempts", 2)
    if not plan.virtual_time and retries:
        waits = "1 minute, then 2 more minutes" if retries > 1 else "1 minute"
        watch.first_failure = lambda: console.print(
            f"an attempt failed: Lambda retries after about {waits} "
            "(--virtual-time runs these waits at once; Ctrl-C stops waiting)",
            markup=False,
        )
    dead_letters = senders.get("dead_letter_queue")
    _log_to(console, clock if isinstance(clock, VirtualClock) else None, plan.verbose)
    began = time.perf_counter()
    invoker = AsyncInvoker(
        handler,
        **plan.settings,
        on_success=watch.wrap(senders.get("on_success"), "on_success"),
        on_failure=watch.wrap(senders.get("on_failure"), "on_failure"),
        dead_letter_queue=(
            None
            if dead_letters is None
            else watch.wrap_dead_letters(dead_letters, "dead_letter_queue")
        ),
        clock=clock,
        metrics_hooks=[watch.hook],
        lambda_logs=plan.verbose,
    )
    interrupted = False
    with bar.shown():
        await invoker.start()
        try:
            for number, event in enumerate(plan.events, 1):
                response = invoker.invoke(event.body)
                watch.numbered(response.request_id, number)
            await invoker.join()
        except asyncio.CancelledError:
            # Ctrl-C (asyncio.run cancels this task): what has not ended is reported, not
            # waited for, as its retries may be minutes away.
            interrupted = True
        unfinished = await invoker.aclose(timeout=0 if interrupted else None)
    traces = sorted(watch.traces.values(), key=lambda t: t.number)
    return RunReport(
        function_name=invoker.function_name,
        traces=traces,
        metrics=invoker.metrics(),
        delivered=dict(watch.delivered),
        targets={role: str(target) for role, target in plan.targets.items()},
        unfinished=len(unfinished),
        virtual_seconds=clock.elapsed if isinstance(clock, VirtualClock) else None,
        wall_seconds=time.perf_counter() - began,
        interrupted=interrupted,
    )


class _ConsoleLog(logging.Handler):
    """Log lines through the console, so they print above the progress bar, not through it."""

    def __init__(self, console: Console, clock: VirtualClock | None, verbose: bool) -> None:
        super().__init__()
        self._console = console
        self._clock = clock
        self._verbose = verbose

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stamp = f"+{self._clock.elapsed:g} s" if self._clock is not None else self._time()
            line = f"[{stamp}] {record.levelname} {record.getMessage()}"
            if self._verbose and record.exc_info:
                line += "\n" + self.formatException(record.exc_info)
            self._console.print(line, markup=False, style=_LOG_STYLES.get(record.levelno, ""))
        except Exception:  # noqa: BLE001 - logging must not break the run; logging reports it
            self.handleError(record)

    @staticmethod
    def _time() -> str:
        return time.strftime("%H:%M:%S")

    def formatException(self, exc_info: Any) -> str:
        return logging.Formatter().formatException(exc_info)


_LOG_STYLES: Final = {logging.ERROR: "red", logging.WARNING: "yellow"}


def _log_to(console: Console, clock: VirtualClock | None, verbose: bool) -> None:
    # The library's errors (a failed delivery, say) always; its retry decisions and Lambda's
    # START / END / REPORT lines with --verbose. Event failures are in the summary already.
    logger = logging.getLogger("lambda_destinations")
    logger.handlers[:] = [_ConsoleLog(console, clock, verbose)]
    logger.propagate = False
    logger.setLevel(logging.DEBUG if verbose else logging.ERROR)
