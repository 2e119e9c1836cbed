"""Accepted events in an Amazon SQS standard queue, shared by processes on many machines.

Needs the ``aws`` extra (``pip install 'lambda_destinations[aws]'``, boto3), which loads on
the queue's first call. See docs/queues.md for what it guarantees and what it costs.

    from lambda_destinations.queues.sqs import SQSQueue

    invoker = AsyncInvoker(handler, function_name="orders", queue=SQSQueue(queue_url))
"""

from ._queue import SQSQueue

__all__ = ["SQSQueue"]
