"""AWS Lambda's asynchronous invocation model, in process.

An `AsyncInvoker` queues events for any callable, retries function errors on AWS's schedule,
gives up at AWS's maximum event age, and hands AWS's execution records to destinations and a
dead-letter queue. ``lambda_destinations.testing`` runs it all on virtual time.
"""

from ._clock import Clock, SystemClock
from ._config import AWS_RETRY_WAIT, Duration, EventInvokeConfig, RetryWait
from ._context import CognitoIdentity, LambdaContext
from ._dead_letter import DeadLetterMessage
from ._decorator import AsyncFunction, async_invoke
from ._event_invoke_config import EventInvokeConfigError, EventInvokeConfigs
from ._exceptions import (
    ConfigurationError,
    ConfigurationTypeError,
    EventLoopError,
    FunctionError,
    InvalidRequestContentError,
    InvokeError,
    InvokerClosedError,
    JoinTimeoutError,
    LambdaDestinationsError,
    PayloadWarning,
    RequestEntityTooLargeError,
)
from ._invoker import AsyncInvoker, InvokeResponse, UnfinishedEvent
from ._metrics import Metric, MetricsHook, MetricsSnapshot, Statistics
from ._records import Condition, ExecutionRecord, RequestContext, ResponseContext
from .destinations import (
    DeadLetterQueue,
    Destination,
    InMemoryDeadLetterQueue,
    InMemoryDestination,
    InvokerDestination,
    JsonLinesDestination,
)

__all__ = [
    "AWS_RETRY_WAIT",
    "AsyncFunction",
    "AsyncInvoker",
    "Clock",
    "CognitoIdentity",
    "Condition",
    "ConfigurationError",
    "ConfigurationTypeError",
    "DeadLetterMessage",
    "DeadLetterQueue",
    "Destination",
    "Duration",
    "EventInvokeConfig",
    "EventInvokeConfigError",
    "EventInvokeConfigs",
    "EventLoopError",
    "ExecutionRecord",
    "FunctionError",
    "InMemoryDeadLetterQueue",
    "InMemoryDestination",
    "InvalidRequestContentError",
    "InvokeError",
    "InvokeResponse",
    "InvokerClosedError",
    "InvokerDestination",
    "JoinTimeoutError",
    "JsonLinesDestination",
    "LambdaContext",
    "LambdaDestinationsError",
    "Metric",
    "MetricsHook",
    "MetricsSnapshot",
    "PayloadWarning",
    "RequestContext",
    "RequestEntityTooLargeError",
    "ResponseContext",
    "RetryWait",
    "Statistics",
    "SystemClock",
    "UnfinishedEvent",
    "async_invoke",
]
