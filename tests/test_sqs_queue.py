"""What only the SQS backend does: its messages, its limits, its leases, its settings.

The behaviours every backend shares run in test_queues.py, and the crash tests with worker
processes in test_durability.py. Here, invokers on a `SQSQueue` talk to moto's server
over HTTP, with real boto3 clients.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import tenacity
from lambda_destinations import (
    AsyncInvoker,
    ConfigurationError,
    InMemoryDestination,
    InvokeError,
    JoinTimeoutError,
    RequestEntityTooLargeError,
)
from lambda_destinations.destinations.aws._connection import AwsConnection
from lambda_destinations.destinations.aws._errors import DeliveryRetry, Failure
from lambda_destinations.queues import EventState
from lambda_destinations.queues.sqs import SQSQueue
from lambda_destinations.queues.sqs._calls import Calls, Received
from lambda_destinations.queues.sqs._messages import STATE_ROOM, decode, encode, fitted, size
from lambda_destinations.queues.sqs._receiving import Receiver
from lambda_destinations.testing import VirtualClock

from .aws import DEADLINE, REGION, MotoAws, wait_for
from .scripts import run_script

pytestmark = pytest.mark.lambda_destinations(wall_timeout=60)


def sqs(aws: MotoAws, url: str, **options: Any) -> SQSQueue:
    """An `SQSQueue` on moto's server at *url*."""
    return SQSQueue(url, endpoint_url=aws.endpoint_url, region_name=REGION, **options)


def succeeds(event: Any) -> Any:
    """A handler that returns its event."""
    return event


async def until(check: Any) -> None:
    """Let the loop run until *check()* is true, or fail after a generous deadline."""
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {DEADLINE:g} s")
        await asyncio.sleep(0.01)


def producer(aws: MotoAws, url: str, clock: VirtualClock) -> AsyncInvoker:
    """An invoker that only sends events; closing, it does not wait for anyone to run them."""
    queue = sqs(aws, url, consume=False)
    return AsyncInvoker(succeeds, queue=queue, clock=clock, drain_timeout=0)


# -- messages ----------------------------------------------------------------------------------


async def test_an_events_message_is_its_state_then_its_payload(aws):
    """The message: one header line of JSON with the event's state, then the payload as sent.

    Nothing else rides along (no message attributes); the documented format.
    """
    url, _ = aws.queue("format")
    async with producer(aws, url, VirtualClock()) as sending:
        accepted = await sending.invoke(b'{"order": 42}')
    (message,) = aws.receive(url)
    head, body = message["Body"].split("\n", 1)
    header = json.loads(head)
    assert body == '{"order": 42}'
    assert header.pop("lambda_destinations") == 1
    assert header.pop("request_id") == accepted.request_id
    assert isinstance(header.pop("accepted_at"), float)
    assert header == {}
    assert "MessageAttributes" not in message


async def test_a_payload_sqs_cannot_carry_as_text_goes_base64_and_round_trips(aws):
    """U+FFFF is valid JSON text but not SQS text: that body is base64-encoded, the other not.

    The handler gets both payloads, and the records carry them byte for byte as sent.
    """
    url, _ = aws.queue("unicode")
    clock = VirtualClock()
    payloads = ['{"s": "\uffff"}'.encode(), '{"s": "caf\u00e9 \U0001f600"}'.encode()]
    async with producer(aws, url, clock) as sending:
        for payload in payloads:
            await sending.invoke(payload)
    raw = aws.receive(url, 2)
    encodings = sorted(json.loads(m["Body"].split("\n", 1)[0]).get("encoding", "") for m in raw)
    assert encodings == ["", "base64"]
    for message in raw:  # back to the queue at once, for the worker
        aws.client("sqs").change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )

    seen: list[Any] = []
    ok = InMemoryDestination()
    worker = AsyncInvoker(seen.append, queue=sqs(aws, url), clock=clock, on_success=ok)
    async with worker:
        await worker.join(timeout=60)
    assert sorted(json.dumps(event) for event in seen) == sorted(
        json.dumps(json.loads(payload)) for payload in payloads
    )
    assert sorted(r.request_payload_json.encode() for r in ok.records) == sorted(payloads)


async def test_an_event_too_large_for_an_sqs_message_is_refused_at_invoke(aws):
    """A payload within Lambda's 1 MB but too large for one SQS message with its state.

    ``invoke()`` raises RequestEntityTooLargeError (AWS's 413) naming the limit and what to
    do; nothing is queued and ``join()`` returns at once.
    """
    url, _ = aws.queue("large")
    invoker = AsyncInvoker(succeeds, queue=sqs(aws, url), clock=VirtualClock())
    async with invoker:
        with pytest.raises(RequestEntityTooLargeError, match="an SQS message holds at most"):
            invoker.invoke(b'"' + b"x" * 1_048_000 + b'"')
        await invoker.join(timeout=60)
        assert invoker.pending == 0
    assert aws.counts(url)["ApproximateNumberOfMessages"] == 0


async def test_an_event_sqs_refuses_to_take_fails_its_invoke_and_is_not_pending(
    aws, monkeypatch, caplog
):
    """SQS refuses the send for good: the awaited invoke raises, and nothing stays pending.

    The InvokeError names SQS's answer; the refusal is logged, and ``join()`` returns.
    """
    refusal = Failure("AccessDenied", "not allowed to send", "req-1", retryable=False)
    monkeypatch.setattr(Calls, "send", lambda self, entries: [refusal] * len(entries))
    url, _ = aws.queue("refused")
    invoker = AsyncInvoker(succeeds, queue=sqs(aws, url), clock=VirtualClock())
    async with invoker:
        with pytest.raises(InvokeError, match="SQS answered AccessDenied: not allowed to send"):
            await invoker.invoke({"n": 1})
        await invoker.join(timeout=60)
        assert invoker.pending == 0
    assert "SQS did not accept event" in caplog.text
    assert aws.counts(url)["ApproximateNumberOfMessages"] == 0


def test_a_retrys_last_error_is_shortened_to_fit_its_message():
    """A retry's message over the queue's limit carries a shortened last error.

    The error keeps its type and the start of its message; the stack trace goes. A state
    that fits goes as it is.
    """
    error = json.dumps(
        {
            "errorMessage": "boom " * 200,
            "errorType": "ValueError",
            "stackTrace": ['  File "handler.py", line 1, in handler\n' * 50],
        }
    )
    fresh = EventState("id-1", '{"order": 1}', 1_700_000_000.0)
    limit = size(encode(fresh)) + STATE_ROOM
    failed = fresh._replace(attempts=1, error=error, error_message="boom " * 200)
    assert size(encode(failed)) > limit

    kept, message = fitted(failed, 1_700_000_060.0, limit)
    assert size(message) <= limit
    short = json.loads(kept.error or "")
    assert short["errorType"] == "ValueError"
    assert short["errorMessage"].startswith("boom boom")
    assert "stackTrace" not in short
    assert failed.error_message.startswith(kept.error_message)
    assert kept._replace(error=error, error_message=failed.error_message) == failed
    decoded = decode(message)
    assert decoded is not None
    assert decoded == (kept, 1_700_000_060.0)
    assert fitted(fresh, None, limit) == (fresh, encode(fresh))


async def test_the_queues_own_smaller_message_limit_refuses_an_event_sent_right_after_start(aws):
    """A queue made with a smaller ``MaximumMessageSize`` (4 KiB): the limit is the queue's.

    The limit is read with the queue's first count, which the first sends wait for: an
    event invoked before that answer is still refused with AWS's 413, not sent to be turned
    down by SQS; once it is known, ``invoke()`` refuses at once. A small event goes through.
    """
    url = aws.client("sqs").create_queue(
        QueueName="small", Attributes={"MaximumMessageSize": "4096"}
    )["QueueUrl"]
    big = {"pad": "x" * 3500}  # fits SQS's 4 KiB, but leaves no room for a retry's state
    ok = InMemoryDestination()
    invoker = AsyncInvoker(succeeds, queue=sqs(aws, url), clock=VirtualClock(), on_success=ok)
    async with invoker:
        with pytest.raises(RequestEntityTooLargeError, match="holds at most 4096 bytes"):
            await invoker.invoke(big)  # before the first count answered
        with pytest.raises(RequestEntityTooLargeError, match="holds at most 4096 bytes"):
            invoker.invoke(big)  # refused before anything is sent
        small = await invoker.invoke({"pad": "x" * 100})
        await invoker.join(timeout=60)
    assert [r.request_id for r in ok.records] == [small.request_id]


async def test_a_retrys_message_carries_its_attempts_last_error_and_not_before_time(aws):
    """After a failed attempt, the event's new message holds its state for any process.

    The request id and acceptance time as before, the attempt count (1), the last error
    (type and message), and the not-before time of the 600 s retry wait. Closed with a drain
    timeout of 0, the invoker gives the message back to the queue, where it is read here.
    """
    url, _ = aws.queue("retry-state")
    clock = VirtualClock()

    def fails(event: Any) -> None:
        raise ValueError("planned failure")

    queue = sqs(aws, url)
    invoker = AsyncInvoker(
        fails, queue=queue, clock=clock, retry_wait=tenacity.wait_fixed(600), drain_timeout=0
    )
    async with invoker:
        accepted = await invoker.invoke({"n": 1})
        began = clock.now().timestamp()
        async with clock.timeout(60):
            while [u.state for u in invoker.pending_events()] != ["waiting to retry"]:
                await clock.sleep(0.1)

    def given_back() -> bool:
        found: dict[str, int] = aws.counts(url)
        return found["ApproximateNumberOfMessages"] == 1 and sum(found.values()) == 1

    wait_for(given_back, "the retry's message alone in the queue, visible")
    (message,) = aws.receive(url)
    head, body = message["Body"].split("\n", 1)
    header = json.loads(head)
    assert json.loads(body) == {"n": 1}
    assert header["request_id"] == accepted.request_id
    assert header["attempts"] == 1
    assert header["accepted_at"] <= began
    assert json.loads(header["error"])["errorType"] == "ValueError"
    assert header["error_message"] == "planned failure"
    assert began + 600 <= header["not_before"] < began + 601


async def test_a_message_the_library_did_not_write_is_left_in_the_queue_and_logged(aws, caplog):
    """A foreign message is not run: it is hidden for hours at a time and logged once, at ERROR."""
    url, _ = aws.queue("foreign")
    aws.client("sqs").send_message(QueueUrl=url, MessageBody="hello")
    ran: list[Any] = []
    clock = VirtualClock()
    invoker = AsyncInvoker(ran.append, queue=sqs(aws, url), clock=clock, drain_timeout=0)
    with caplog.at_level(logging.ERROR, logger="lambda_destinations"):
        async with invoker, clock.timeout(60):
            while "was not written by lambda_destinations" not in caplog.text:
                await clock.sleep(0.1)
    assert ran == []
    assert aws.counts(url)["ApproximateNumberOfMessagesNotVisible"] == 1


# -- leases and waits, in real time -------------------------------------------------------------


async def test_an_attempt_longer_than_its_lease_keeps_its_message_and_runs_once(aws):
    """A 7 s attempt on a 3 s lease: the lease is extended while it runs.

    Each extension goes out with half the lease (1.5 s) left, time enough for the call to
    reach moto on a busy machine.

    Two invokers share the queue; whichever received the event, the other never gets its
    message back: one call of the handler, one record.
    """
    url, _ = aws.queue("long")
    calls: list[str] = []
    ok = InMemoryDestination()

    async def long(event: Any) -> str:
        calls.append(event["id"])
        await asyncio.sleep(7)
        return "done"

    def invoker() -> AsyncInvoker:
        queue = sqs(aws, url, lease_seconds=3, wait_seconds=1)
        return AsyncInvoker(long, queue=queue, timeout=10, aws_limits=False, on_success=ok)

    async with invoker() as first, invoker():
        await first.invoke({"id": "once"})
        await first.join(timeout=DEADLINE)
    assert calls == ["once"]
    assert len(ok) == 1


async def test_a_message_received_before_its_not_before_time_is_never_run_early(aws):
    """A retry's message received 3 s early (SQS delays at most 900 s) goes back, then runs.

    The message is written as the library writes a retry whose wait was longer than SQS's
    delay; the invoker puts it back in SQS for the rest of the wait and runs it once due.
    """
    url, _ = aws.queue("early")
    not_before = time.time() + 3
    header = {
        "lambda_destinations": 1,
        "request_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "accepted_at": time.time(),
        "attempts": 1,
        "not_before": not_before,
    }
    aws.client("sqs").send_message(QueueUrl=url, MessageBody=f"{json.dumps(header)}\n{{}}")
    ran: list[float] = []
    invoker = AsyncInvoker(
        lambda event: ran.append(time.time()), queue=sqs(aws, url, wait_seconds=1)
    )
    async with invoker:
        await invoker.join(timeout=DEADLINE)
    assert len(ran) == 1
    assert ran[0] >= not_before


async def test_a_retry_wait_longer_than_sqs_delays_stays_in_the_queue(aws):
    """A 1,000 s retry wait on the system clock: the message waits in SQS, delayed.

    The closing invoker reports the event waiting to retry; the message is in the queue,
    held back (SQS's longest delay, 900 s, then its not-before time).
    """
    url, _ = aws.queue("wait")

    def fails(event: Any) -> None:
        raise ValueError("planned failure")

    queue = sqs(aws, url, wait_seconds=1)
    invoker = AsyncInvoker(
        fails, queue=queue, retry_wait=tenacity.wait_fixed(1000), drain_timeout=0
    )
    async with invoker:
        accepted = await invoker.invoke({})
        await until(lambda: [u.state for u in invoker.pending_events()] == ["waiting to retry"])
        report = invoker.pending_events()
    assert [(u.request_id, u.state, u.attempts) for u in report] == [
        (accepted.request_id, "waiting to retry", 1)
    ]
    assert aws.counts(url) == {
        "ApproximateNumberOfMessages": 0,
        "ApproximateNumberOfMessagesNotVisible": 0,
        "ApproximateNumberOfMessagesDelayed": 1,
    }


async def test_a_copy_of_a_message_received_after_its_delete_is_deleted_not_run(aws, monkeypatch):
    """SQS delivers at least once: a receive may return a message another receive returned.

    moto's server does it too, under load (two concurrent receives can take the same
    message). When the copy reaches the process after the event ended and its message was
    deleted, it is deleted again and not run: the handler runs once, with one record.
    """
    url, _ = aws.queue("copy")
    received: list[Received] = []
    copies: list[Received] = []
    receive = Calls.receive

    def receive_with_copies(self: Calls, count: int, wait: int, visibility: int) -> Any:
        found = receive(self, count, wait, visibility)
        if isinstance(found, list) and found:
            received.extend(found)
            found = [*found, *copies]
            copies.clear()
        return found

    monkeypatch.setattr(Calls, "receive", receive_with_copies)
    ran: list[Any] = []
    ok = InMemoryDestination()
    invoker = AsyncInvoker(ran.append, queue=sqs(aws, url), clock=VirtualClock(), on_success=ok)
    async with invoker:
        first = await invoker.invoke({"n": 1})
        await invoker.join(timeout=60)
        wait_for(lambda: sum(aws.counts(url).values()) == 0, "the first message deleted")
        copies.append(received[0])  # the first message again, with the next receive
        second = await invoker.invoke({"n": 2})
        await invoker.join(timeout=60)
        await until(lambda: not copies)
    assert ran == [{"n": 1}, {"n": 2}]
    assert [r.request_id for r in ok.records] == [first.request_id, second.request_id]
    wait_for(lambda: sum(aws.counts(url).values()) == 0, "every message deleted")


def held_until_released() -> tuple[Callable[[Any], Awaitable[Any]], list[Any], asyncio.Event]:
    """An async handler that notes each event it gets and returns it once released."""
    ran: list[Any] = []
    release = asyncio.Event()

    async def waits(event: Any) -> Any:
        ran.append(event)
        await release.wait()
        return event

    return waits, ran, release


def note_messages_taken_in(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[Received], threading.Event]:
    """Every message the queue takes in, in order; the event is set once the first comes again."""
    taken: list[Received] = []
    copy_taken = threading.Event()
    take_in = Receiver._take_in

    def noting_take_in(self: Receiver, message: Received, until: float) -> None:
        take_in(self, message, until)
        taken.append(message)
        if len(taken) > 1 and message.message_id == taken[0].message_id:
            copy_taken.set()

    monkeypatch.setattr(Receiver, "_take_in", noting_take_in)
    return taken, copy_taken


async def test_a_message_received_again_while_its_retry_is_resent_is_deleted_with_its_new_receipt(
    aws, monkeypatch
):
    """A message received again during its resend is deleted with its newest receipt handle.

    Each receive of a message gives a new receipt handle, and SQS deletes a message only with
    the latest one (an older one may answer success and leave it). Here the failed attempt's
    message becomes visible again while its retry is being re-sent, and the process receives
    it (a real receive, with a new receipt) before the resend's delete goes out with the
    receipt it began with: the message is then deleted with the new receipt too. moto deletes
    with any receipt the message had, so the deletes are checked: the handler runs twice (the
    attempt and its retry), one record, and nothing left in the queue. The retry waits 2 s, so
    that its new message is not received before the resend is answered.
    """
    url, _ = aws.queue("receipt")
    taken, copy_taken = note_messages_taken_in(monkeypatch)
    resend = Calls.resend
    resends = 0

    def resend_after_a_copy(self: Calls, entries: Any) -> Any:
        nonlocal resends
        resends += 1
        if resends == 1:
            ((_, _, (receipt,)),) = entries
            self.change_visibility([(receipt, 0)])  # visible: the process receives it again
            assert copy_taken.wait(DEADLINE), "the message received again"
        return resend(self, entries)

    deleted: list[str] = []
    delete = Calls.delete

    def noting_delete(self: Calls, receipts: Any) -> Any:
        deleted.extend(receipts)
        return delete(self, receipts)

    monkeypatch.setattr(Calls, "resend", resend_after_a_copy)
    monkeypatch.setattr(Calls, "delete", noting_delete)
    ran: list[Any] = []

    def fails_once(event: Any) -> Any:
        ran.append(event)
        if len(ran) == 1:
            raise ValueError("planned failure")
        return event

    ok = InMemoryDestination()
    queue = sqs(aws, url, wait_seconds=1)
    invoker = AsyncInvoker(
        fails_once, queue=queue, retry_wait=tenacity.wait_fixed(2), on_success=ok
    )
    async with invoker:
        accepted = await invoker.invoke({"n": 1})
        await invoker.join(timeout=DEADLINE)
        first, copy = (m for m in taken if m.message_id == taken[0].message_id)
        await until(lambda: copy.receipt in deleted)
    assert first.receipt != copy.receipt
    assert ran == [{"n": 1}, {"n": 1}]
    assert [r.request_id for r in ok.records] == [accepted.request_id]
    wait_for(lambda: sum(aws.counts(url).values()) == 0, "every message deleted")


async def test_an_extension_refused_for_a_receipt_replaced_meanwhile_keeps_the_lease(
    aws, monkeypatch
):
    """SQS refusing an older receipt's extension does not lose a lease received again since.

    The first extension of a running event's lease goes out with its receipt; meanwhile the
    message becomes visible and the process receives it again (a real receive, a new
    receipt), and SQS then refuses the old receipt (as it may: moto accepts any receipt a
    message had, so the refusal is made here). The lease is the new receipt's now: the
    attempt's outcome is stored, one run, one record.
    """
    url, _ = aws.queue("extend-receipt")
    taken, copy_taken = note_messages_taken_in(monkeypatch)
    change = Calls.change_visibility
    refused: list[str] = []

    def refusing_the_first_extension(self: Calls, entries: Any) -> Any:
        if refused or not taken or entries != [(taken[0].receipt, 2)]:
            return change(self, entries)
        ((receipt, _),) = entries
        refused.append(receipt)
        change(self, [(receipt, 0)])  # visible: the process receives it again
        assert copy_taken.wait(DEADLINE), "the message received again"
        return [Failure("ReceiptHandleIsInvalid", "The receipt handle has expired")]

    monkeypatch.setattr(Calls, "change_visibility", refusing_the_first_extension)
    waits, ran, release = held_until_released()
    ok = InMemoryDestination()
    queue = sqs(aws, url, lease_seconds=2, wait_seconds=1)
    invoker = AsyncInvoker(waits, queue=queue, timeout=30, aws_limits=False, on_success=ok)
    async with invoker:
        accepted = await invoker.invoke({"n": 1})
        await until(lambda: refused)
        lease = queue._shared.holdings.held[accepted.request_id]
        await until(lambda: not lease.extending)  # the refusal reached the loop
        release.set()
        await invoker.join(timeout=DEADLINE)
    assert ran == [{"n": 1}]
    assert len(ok) == 1
    wait_for(lambda: sum(aws.counts(url).values()) == 0, "every message deleted")


async def test_a_lease_lost_mid_attempt_delivers_nothing_and_the_event_runs_again(
    aws, monkeypatch, caplog
):
    """SQS refuses the extension of the receipt the process holds: the lease is lost.

    The attempt still ends here, but its outcome is neither stored nor delivered, and the
    process says so; once the message's visibility runs out, it is received and runs again,
    and that run's record is the one delivered.
    """
    url, _ = aws.queue("extend-lost")
    change = Calls.change_visibility
    refused: list[str] = []

    def refusing_the_first_extension(self: Calls, entries: Any) -> Any:
        if refused or len(entries) != 1 or entries[0][1] != 4:
            return change(self, entries)
        refused.append(entries[0][0])
        return [Failure("ReceiptHandleIsInvalid", "The receipt handle has expired")]

    monkeypatch.setattr(Calls, "change_visibility", refusing_the_first_extension)
    waits, ran, release = held_until_released()
    ok = InMemoryDestination()
    queue = sqs(aws, url, lease_seconds=4, wait_seconds=1)
    invoker = AsyncInvoker(waits, queue=queue, timeout=30, aws_limits=False, on_success=ok)
    async with invoker:
        accepted = await invoker.invoke({"n": 1})
        await until(lambda: refused)
        lease = queue._shared.holdings.held[accepted.request_id]
        await until(lambda: lease.lost)  # the refusal reached the loop
        release.set()
        await until(lambda: "this outcome is not delivered" in caplog.text)
        assert len(ok) == 0
        await invoker.join(timeout=DEADLINE)
    assert ran == [{"n": 1}, {"n": 1}]
    assert [r.request_id for r in ok.records] == [accepted.request_id]
    assert "ran out and another process received its message" in caplog.text
    wait_for(lambda: sum(aws.counts(url).values()) == 0, "every message deleted")


# -- API calls: batches under load, long polls when idle ------------------------------------


def recording_client(aws: MotoAws) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    """A boto3 SQS client at moto, and the list of (operation, parameters) of each call it makes."""
    import boto3

    client = boto3.session.Session().client(
        "sqs", region_name=REGION, endpoint_url=aws.endpoint_url
    )
    made: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        made.append((model.name, dict(params)))

    client.meta.events.register("provide-client-params.sqs", record)
    return client, made


async def test_under_load_sends_receives_and_deletes_go_in_batches_of_ten(aws):
    """200 events accepted at once and run: SendMessageBatch, receives of 10, DeleteMessageBatch.

    Each receive asks for 10 messages; sends and deletes fill batches while the calls before
    them run, so they take far fewer calls than events (the bench measures the total). Each
    event is sent once and runs once. moto's server may return one message to two
    concurrent receives (as SQS may deliver a message twice): the copy is not run, but
    deleted too, so deletes may exceed the events. Rarely, its races also bring a deleted
    message back, in flight for the rest of its lease (10 s here): on the system clock the
    invoker waits for it and deletes it again (not run), where virtual time would run past
    the lease and the join time out.
    """
    url, _ = aws.queue("load")
    client, made = recording_client(aws)
    ok = InMemoryDestination()
    queue = SQSQueue(url, client=client, wait_seconds=2, lease_seconds=10)
    invoker = AsyncInvoker(succeeds, queue=queue, on_success=ok)
    async with invoker:
        accepted = {invoker.invoke_nowait({"n": n}).request_id for n in range(200)}
        await invoker.join(timeout=600)
        await until(lambda: sum(aws.counts(url).values()) == 0)  # every message deleted
    assert sorted(r.request_id for r in ok.records) == sorted(accepted)

    def calls(*names: str) -> list[dict[str, Any]]:
        return [params for name, params in made if name in names]

    sends = calls("SendMessage", "SendMessageBatch")
    deletes = calls("DeleteMessage", "DeleteMessageBatch")
    assert sum(len(p["Entries"]) if "Entries" in p else 1 for p in sends) == 200
    assert sum(len(p["Entries"]) if "Entries" in p else 1 for p in deletes) >= 200
    assert len(sends) <= 40
    assert len(deletes) <= 100
    assert {p["MaxNumberOfMessages"] for p in calls("ReceiveMessage")} == {10}


def test_calls_of_any_length_go_out_at_most_ten_entries_a_call(aws):
    """Sends, deletes and visibility changes of 25 entries each reach SQS, 10 a call at most.

    A stopping queue's last calls take everything that was left at once, however much.
    """
    url, _ = aws.queue("many")
    client, made = recording_client(aws)
    calls = Calls(AwsConnection(clients={"sqs": client}), url, REGION, DeliveryRetry(attempts=1))
    assert calls.send([(json.dumps({"n": n}), 0) for n in range(25)]) == [None] * 25
    receipts: list[str] = []
    deadline = time.monotonic() + DEADLINE
    while len(receipts) < 25 and time.monotonic() < deadline:
        taken = calls.receive(10, 0, 60)
        assert not isinstance(taken, Failure)
        receipts += [message.receipt for message in taken]
    assert calls.change_visibility([(r, 120) for r in receipts]) == [None] * 25
    assert calls.delete(receipts) == [None] * 25
    assert sum(aws.counts(url).values()) == 0
    batches = [p for name, p in made if name.endswith("Batch")]
    assert sorted(len(p["Entries"]) for p in batches) == [5, 5, 5, 10, 10, 10, 10, 10, 10]


async def test_an_idle_worker_long_polls(aws):
    """On the system clock with nothing to do, each receive long-polls for ``wait_seconds``.

    Then an event sent meanwhile is received by the poll that is waiting, and runs.
    """
    url, _ = aws.queue("idle")
    client, made = recording_client(aws)
    ran: list[Any] = []
    invoker = AsyncInvoker(ran.append, queue=SQSQueue(url, client=client, wait_seconds=2))
    async with invoker:
        await until(lambda: sum(name == "ReceiveMessage" for name, _ in made) >= 2)
        aws.client("sqs").send_message(
            QueueUrl=url,
            MessageBody=f'{{"lambda_destinations":1,"request_id":"r1","accepted_at":{time.time()}}}\n{{"n":1}}',
        )
        await until(lambda: ran)
    receives = [params for name, params in made if name == "ReceiveMessage"]
    assert {(p["WaitTimeSeconds"], p["MaxNumberOfMessages"]) for p in receives} == {(2, 10)}
    assert ran == [{"n": 1}]


async def test_reserved_concurrency_bounds_each_process_not_the_queue(aws):
    """Two invokers on one queue, each with ``reserved_concurrency=1``: two events run at once.

    Each invoker runs at most one event at a time; SQS knows no limit across processes, so
    the queue's events run up to the sum of the invokers' concurrency (docs/queues.md).
    """
    url, _ = aws.queue("concurrency")
    clock = VirtualClock()
    running: dict[str, int] = {"a": 0, "b": 0}
    most = {"a": 0, "b": 0, "both": 0}

    def handler(name: str) -> Any:
        async def run(event: Any) -> None:
            running[name] += 1
            most[name] = max(most[name], running[name])
            most["both"] = max(most["both"], sum(running.values()))
            try:
                await asyncio.sleep(5)
            finally:
                running[name] -= 1

        return run

    def worker(name: str) -> AsyncInvoker:
        queue = sqs(aws, url, read_ahead=0)
        return AsyncInvoker(
            handler(name), queue=queue, clock=clock, timeout=30, reserved_concurrency=1
        )

    async with producer(aws, url, clock) as sending, worker("a"), worker("b"):
        for n in range(6):
            await sending.invoke({"n": n})
        await sending.join(timeout=3600)
    assert (most["a"], most["b"], most["both"]) == (1, 1, 2)


# -- counting ---------------------------------------------------------------------------------


async def test_join_on_an_invoker_that_only_sends_waits_for_the_workers(aws):
    """``consume=False``: the invoker runs nothing; ``pending`` counts the whole queue.

    So its ``join()`` returns once another invoker on the queue ran every event.
    """
    url, _ = aws.queue("join")
    clock = VirtualClock()
    ran: list[int] = []

    def never_here(event: Any) -> None:
        raise AssertionError("a consume=False invoker ran an event")

    async def worker_handler(event: Any) -> None:
        await asyncio.sleep(2)
        ran.append(event["n"])

    producer = AsyncInvoker(never_here, queue=sqs(aws, url, consume=False), clock=clock)
    worker = AsyncInvoker(worker_handler, queue=sqs(aws, url), clock=clock, reserved_concurrency=1)
    async with producer, worker:
        for n in range(3):
            await producer.invoke({"n": n})
        assert producer.pending == 3
        await producer.join(timeout=600)
        assert sorted(ran) == [0, 1, 2]
        assert producer.pending == 0


async def test_a_workers_join_follows_an_event_another_process_sent(aws):
    """A worker runs an event a producer sent; its ``join()`` right after returns once SQS is empty.

    The worker's ``pending`` rose when it received a message it did not send, and stays up
    until SQS counts the queue empty (about a second later, on the system clock): the worker
    tells the invoker when it rose, so that ``join()`` waits for that count instead of
    spinning on the loop the count needs.
    """
    url, _ = aws.queue("follow")
    ran: list[Any] = []
    sending = AsyncInvoker(succeeds, queue=sqs(aws, url, consume=False), drain_timeout=0)
    worker = AsyncInvoker(ran.append, queue=sqs(aws, url, wait_seconds=1))
    async with sending, worker:
        await sending.invoke({"n": 1})
        await until(lambda: ran)
        await worker.join(timeout=DEADLINE)
        assert worker.pending == 0
    assert ran == [{"n": 1}]


async def test_a_join_timeout_counts_events_whose_message_no_process_here_holds(aws):
    """An event whose message another process holds (in flight) is pending, not listed here.

    ``join(timeout=...)`` says so when it gives up, rather than "none": the queue counts
    one event that this process does not hold. Once the message is back, the worker runs it.
    """
    url, _ = aws.queue("elsewhere")
    clock = VirtualClock()
    async with producer(aws, url, clock) as sending:
        await sending.invoke({"n": 1})
    (held,) = aws.receive(url)  # another process holds it, for the queue's 30 s
    ran: list[Any] = []
    worker = AsyncInvoker(ran.append, queue=sqs(aws, url), clock=clock)
    async with worker:
        await until(lambda: worker.pending == 1 and not worker.pending_events())
        with pytest.raises(JoinTimeoutError, match="still pending after 5 s") as info:
            await worker.join(timeout=5)
        assert info.value.pending == ()
        assert "1 more that the queue counts and this process does not hold" in str(info.value)
        aws.client("sqs").change_message_visibility(
            QueueUrl=url, ReceiptHandle=held["ReceiptHandle"], VisibilityTimeout=0
        )
        await worker.join(timeout=600)
    assert ran == [{"n": 1}]


# -- settings and imports ---------------------------------------------------------------------

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("orders", {}, "is not a queue URL"),
        (URL + ".fifo", {}, "needs a standard queue"),
        (
            URL,
            {"wait_seconds": 21},
            "wait_seconds=21 must be a finite number of seconds from 0 to 20",
        ),
        (URL, {"wait_seconds": 1.5}, "wait_seconds=1.5 must be a whole number of seconds"),
        (URL, {"lease_seconds": 0}, "lease_seconds=0 must be a finite number of seconds from 1"),
        (URL, {"poll_interval": 0}, "poll_interval=0 must be a finite number of seconds above 0"),
        (URL, {"read_ahead": -1}, "read_ahead=-1 must be a whole number, 0 or more"),
        (URL, {"client": object(), "endpoint_url": "http://x"}, "either client= or"),
        (URL, {"client": object()}, "is not a boto3 client"),
    ],
)
def test_bad_settings_are_refused_saying_what_to_pass(url, options, message):
    """Each setting is checked when the queue is made, with a message naming the fix."""
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SQSQueue(url, **options)


def test_importing_the_queues_does_not_load_boto3(tmp_path):
    """Neither ``lambda_destinations.queues`` nor making an SQSQueue loads boto3 or botocore.

    ``SQSQueue`` is there too, loaded on first use; boto3 loads on the queue's first call.
    """
    result = run_script(
        tmp_path,
        f"""
        import sys
        import lambda_destinations.queues
        assert "boto3" not in sys.modules and "botocore" not in sys.modules, "queues"
        assert "lambda_destinations.queues.sqs" not in sys.modules, "sqs module"
        from lambda_destinations.queues import SQSQueue
        SQSQueue({URL!r})
        assert "boto3" not in sys.modules and "botocore" not in sys.modules, "queue made"
        print("ok")
        """,
    )
    assert result.stdout.strip() == "ok", result.stderr


async def test_an_invoke_from_another_thread_returns_once_sqs_accepted_it(aws):
    """A sync caller's ``invoke()`` (a thread beside the loop) returns after the send.

    The message is in the queue as soon as the call returned.
    """
    url, _ = aws.queue("thread")
    invoker = producer(aws, url, VirtualClock())
    seen: list[dict[str, int]] = []

    def from_a_thread() -> None:
        invoker.invoke({"n": 1})
        seen.append(aws.counts(url))

    async with invoker:
        thread = threading.Thread(target=from_a_thread)
        thread.start()
        await asyncio.to_thread(thread.join)
    assert seen[0]["ApproximateNumberOfMessages"] == 1


async def test_a_retry_with_no_wait_runs_once_more_and_its_worker_carries_on(aws, monkeypatch):
    """A retry due at once can be received, and run, before its resend is answered.

    The same request id then runs in a second worker while the first still finishes its
    attempt: each worker forgets only its own lease of it, so no worker fails (a KeyError
    before), and every event ends once. The resend is held until the retry's message was
    taken in, so that the race happens every time.
    """
    url, _ = aws.queue("nowait")
    retry_taken = threading.Event()
    first_message: dict[str, str] = {}
    take_in, resend = Receiver._take_in, Calls.resend

    def noting_take_in(self: Receiver, message: Received, until: float) -> None:
        take_in(self, message, until)
        if message.decoded is not None:
            request_id = message.decoded.state.request_id
            if first_message.setdefault(request_id, message.message_id) != message.message_id:
                retry_taken.set()

    def resend_answered_late(self: Calls, entries: Any) -> Any:
        results = resend(self, entries)
        assert retry_taken.wait(DEADLINE), "the retry's message taken in"
        return results

    monkeypatch.setattr(Receiver, "_take_in", noting_take_in)
    monkeypatch.setattr(Calls, "resend", resend_answered_late)
    calls: list[Any] = []
    loop_errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: loop_errors.append(context))

    def fails_first(event: Any) -> Any:
        calls.append(event)
        if event["n"] == 0 and len([c for c in calls if c["n"] == 0]) == 1:
            raise RuntimeError("once")
        return event

    ok = InMemoryDestination()
    invoker = AsyncInvoker(
        fails_first,
        queue=sqs(aws, url),
        retry_wait=tenacity.wait_none(),
        on_success=ok,
    )
    async with invoker:
        for n in range(20):
            await invoker.invoke({"n": n})
        await ok.wait_for(20, timeout=DEADLINE)
    assert sorted(r.response_payload["n"] for r in ok.records) == list(range(20))
    assert len(calls) == 21
    assert not loop_errors  # a worker that failed is reported here when it is collected
