"""Accepted events in an Amazon SQS standard queue, shared by processes on many machines.

Needs the ``aws`` extra (``pip install 'lambda_destinations[aws]'``, boto3), which loads on
the queue's first call. See docs/queues.md for what it guarantees and what it costs.

    from lambda_destinations.queues.sqs import SQSQueue

    invoker = AsyncInvoker(handler, function_name="orders", queue=SQSQueue(queue_url))

An event's message is leased to the process that received it for a visibility timeout; the
process extends it while the event runs or waits there, deletes the message once the event's
record (and dead letter) were handed to their receivers, or sends a new message with the next
state and a delay for a retry, then deletes the old one. Every call to SQS runs in the
queue's threads (boto3 blocks); the event loop only gathers what to send into batches and
acts on the answers.

On the event loop:

- ``_queue``: `SQSQueue`, the `EventQueue` protocol; it hands each request to its part.
- ``_shared``: what the parts share: settings, the loop, the clock, the batchers.
- ``_lease``: the leases this process holds, and events on their way (its bookkeeping).
- ``_sending``: accepted events sent, or refused as too large.
- ``_receiving``: receives, and each message taken in: offered, kept ahead, or held.
- ``_extending``: leases extended while their events run here.
- ``_ending``: retries re-sent, outcomes awaited, messages deleted.
- ``_pump``: the run loop, and counting the queue for ``pending()``.
- ``_count``: the queue's count as this process can tell it.
- ``_batcher``: gathering one kind of call into batches of 10.
- ``_options``: the checks of the queue's arguments.

In the queue's threads: ``_calls`` (every SQS call, retried), ``_stopping`` (the last calls
as the queue stops). ``_messages``: how an event rides in a message.
"""

from ._queue import SQSQueue

__all__ = ["SQSQueue"]
