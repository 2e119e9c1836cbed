"""How adapters reach AWS: boto3 clients, made lazily, and the threads that run their calls.

boto3 blocks, so every call runs in a bounded pool of daemon threads, awaited through
``loop.run_in_executor`` (a `VirtualClock` then knows a call is in flight and keeps time
still). We chose threads over an asyncio client (aiobotocore): users keep the boto3 sessions,
clients, profiles and endpoint settings they already have, and the extra stays boto3 alone.
The pool is bounded, like botocore's connection pool, so a burst of records queues up here
and is sent in batches instead of opening a connection per record.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from lambda_destinations._exceptions import ConfigurationError
from lambda_destinations._threads import HandlerThreads

__all__ = ["DEFAULT_MAX_THREADS", "AwsConnection", "boto3_installed"]

T = TypeVar("T")

#: Threads (and so connections) per connection object; botocore's pool default is 10.
DEFAULT_MAX_THREADS: Final = 8
# Bounded so that every retry fits inside the invoker's default delivery timeout (30 s).
_CONNECT_TIMEOUT: Final = 3
_READ_TIMEOUT: Final = 5


class AwsConnection:
    """boto3 clients for the adapters of one factory, and the threads their calls run in.

    *clients* maps a service name (``"sqs"``, ``"sns"``, ``"events"``, ``"lambda"``,
    ``"s3"``) to a client the caller made; other services get a client made on first use
    from *session* (default: a new ``boto3.session.Session()``, which reads the environment
    and profiles), in the ARN's region unless *region_name* is given, at *endpoint_url* if
    given. Clients made here do not retry by themselves (the adapters retry, see
    `DeliveryRetry`) and time out after 3 s to connect and 5 s to read. *botocore_config*
    (a ``botocore.config.Config``) is merged over those settings.
    """

    def __init__(
        self,
        *,
        session: Any = None,
        clients: Mapping[str, Any] | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        botocore_config: Any = None,
        max_threads: int = DEFAULT_MAX_THREADS,
        read_timeout: float = _READ_TIMEOUT,
    ) -> None:
        if not isinstance(max_threads, int) or max_threads < 1:
            msg = f"max_threads={max_threads!r} must be a positive number of threads"
            raise ConfigurationError(msg)
        if session is None and not clients and not boto3_installed():
            msg = (
                "AWS destinations need boto3, which is not installed: "
                "pip install 'lambda_destinations[aws]'"
            )
            raise ConfigurationError(msg)
        self._session = session
        self._given = dict(clients or {})
        for service, client in self._given.items():
            _check_client(service, client)
        self.endpoint_url = endpoint_url
        self.region_name = region_name
        self._botocore_config = botocore_config
        self.max_threads = max_threads
        self._read_timeout = read_timeout
        self._made: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._threads: HandlerThreads | None = None

    def __repr__(self) -> str:
        where = self.endpoint_url or "boto3's configured endpoints"
        return f"<AwsConnection {where}, {self.max_threads} threads>"

    def client(self, service: str, region: str) -> Any:
        """The client for *service* in *region*; made on first use (in a worker thread)."""
        given = self._given.get(service)
        if given is not None:
            return given
        # An S3 bucket's ARN names no region: boto3's configured one applies then.
        region = self.region_name or region
        with self._lock:  # boto3 sessions are not thread-safe
            made = self._made.get((service, region))
            if made is None:
                made = self._made[(service, region)] = self._make(service, region)
            return made

    def _make(self, service: str, region: str) -> Any:
        """A client that leaves retries to the adapters and gives up on a silent endpoint."""
        import boto3.session  # the optional dependency loads on first use
        from botocore.config import Config

        if self._session is None:
            self._session = boto3.session.Session()
        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=_CONNECT_TIMEOUT,
            read_timeout=self._read_timeout,
            max_pool_connections=self.max_threads,
        )
        if self._botocore_config is not None:
            config = config.merge(self._botocore_config)
        return self._session.client(
            service, region_name=region or None, endpoint_url=self.endpoint_url, config=config
        )

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run *fn(*args)* in one of the bounded threads without blocking the event loop."""
        return await self.run(fn, *args)

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Start *fn(*args)* in one of the bounded threads; its future on the running loop.

        For callers that follow many calls with callbacks rather than a task each.
        """
        threads = self._threads
        if threads is None:
            with self._lock:
                threads = self._threads
                if threads is None:
                    threads = self._threads = HandlerThreads(
                        self.max_threads, name="lambda_destinations-aws"
                    )
        return asyncio.get_running_loop().run_in_executor(threads, fn, *args)

    def close(self) -> None:
        """Let the threads go once their calls end; the next call starts new ones."""
        with self._lock:
            threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=False)


def boto3_installed() -> bool:
    """Whether boto3 can be imported: looked up, not imported.

    Importing boto3 takes a good part of a second, which building an adapter or a queue
    should not pay before its first call.
    """
    try:
        return importlib.util.find_spec("boto3") is not None
    except ImportError:
        return False


def _check_client(service: str, client: Any) -> None:
    meta = getattr(client, "meta", None)
    model = getattr(meta, "service_model", None)
    name = getattr(model, "service_name", None)
    if name is None:
        msg = f"clients[{service!r}]={client!r} is not a boto3 client: pass boto3.client(...)"
        raise ConfigurationError(msg)
    if name != service:
        msg = (
            f"clients[{service!r}] is a {name!r} client; a {service!r} ARN needs "
            f"boto3.client({service!r})"
        )
        raise ConfigurationError(msg)
