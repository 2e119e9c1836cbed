"""Destinations and dead-letter queues on AWS: SQS, SNS, EventBridge, Lambda and S3.

Needs the ``aws`` extra (``pip install 'lambda_destinations[aws]'``, boto3). Each adapter
sends exactly what Lambda sends (docs/aws.md lists every message); boto3 runs in a bounded
pool of threads, records due at once go out in batches where the service allows it, and
failed deliveries are retried with backoff, then counted and logged.

    from lambda_destinations.destinations.aws import destination_from_arn

    on_failure = destination_from_arn("arn:aws:sqs:us-east-1:123456789012:failures")
"""

from ._adapters import (
    EVENTBRIDGE_SOURCE,
    EventBridgeDestination,
    LambdaDestination,
    S3Destination,
    SnsDeadLetterQueue,
    SnsDestination,
    SqsDeadLetterQueue,
    SqsDestination,
    s3_key,
)
from ._connection import AwsConnection
from ._errors import AwsDeliveryError, DeliveryRetry
from ._factory import AwsDestinations, dead_letter_queue_from_arn, destination_from_arn
from ._registry import LocalFunctions

__all__ = [
    "EVENTBRIDGE_SOURCE",
    "AwsConnection",
    "AwsDeliveryError",
    "AwsDestinations",
    "DeliveryRetry",
    "EventBridgeDestination",
    "LambdaDestination",
    "LocalFunctions",
    "S3Destination",
    "SnsDeadLetterQueue",
    "SnsDestination",
    "SqsDeadLetterQueue",
    "SqsDestination",
    "dead_letter_queue_from_arn",
    "destination_from_arn",
    "s3_key",
]
