"""EventInvokeConfig as AWS's Lambda API writes it: Put, Update, Get, Delete and List.

Requests are the JSON of ``PutFunctionEventInvokeConfig`` / ``UpdateFunctionEventInvokeConfig``
(a JSON text or its parsed value, as boto3 takes the parameters); responses have AWS's shape.
``Put`` replaces the whole config (what it leaves out returns to its default), ``Update``
merges. Refusals carry AWS's error code, HTTP status and message. Destination ARNs become
adapters through a factory (``lambda_destinations.destinations.aws.AwsDestinations`` unless
another is given), so only configs that name AWS targets need boto3.

- ``_request``: a request's JSON checked as AWS checks it, with AWS's messages.
- ``_errors``: `EventInvokeConfigError`, AWS's code and status.
- ``_stored``: `FunctionEventInvokeConfig`, what AWS stores, and AWS's answer showing it.
- ``_operations``: Put, Update, Get, Delete and List on invokers, one config per invoker.
- ``_destinations``: the factory that makes adapters of destination ARNs.
- ``_target``: `ConfiguredFunction`, what the operations need of an invoker.
"""

from ._destinations import DestinationFactory
from ._errors import EventInvokeConfigError
from ._operations import EventInvokeConfigs, delete, get, invoker_from_put, put, update
from ._request import FunctionName
from ._stored import FunctionEventInvokeConfig

__all__ = [
    "DestinationFactory",
    "EventInvokeConfigError",
    "EventInvokeConfigs",
    "FunctionEventInvokeConfig",
    "FunctionName",
    "delete",
    "get",
    "invoker_from_put",
    "put",
    "update",
]
