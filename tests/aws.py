"""A moto server on loopback for the AWS tests: one per session, reset before each test.

boto3 talks HTTP to it exactly as to AWS; nothing in boto3 is mocked. Test files reach it
through the ``aws`` fixture (registered in conftest.py), which also sets dummy credentials.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

REGION = "us-east-1"
ACCOUNT = "123456789012"
#: Long enough for a loaded 2-core machine; only ever waited out when something is broken.
DEADLINE = 30.0

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    # Never a developer's real profile or endpoint settings.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def wait_for(condition: Callable[[], T | None], what: str, deadline: float = DEADLINE) -> T:
    """Poll *condition* until it returns something truthy; fail after *deadline* seconds."""
    end = time.monotonic() + deadline
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > end:
            pytest.fail(f"gave up after {deadline:g} s waiting for {what}")
        time.sleep(0.02)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
            return True
    except (urllib.error.URLError, OSError):
        return False


def start_moto_server() -> tuple[subprocess.Popen[bytes], str]:
    """Start ``moto.server`` on a free 127.0.0.1 port; return the process and its URL."""
    env = {**os.environ, **DUMMY_CREDENTIALS}
    for _ in range(3):  # the port may be taken between finding it free and binding it
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        url = f"http://127.0.0.1:{port}"
        end = time.monotonic() + DEADLINE
        while process.poll() is None and time.monotonic() < end:
            if _answers(url):
                return process, url
            time.sleep(0.05)
        process.kill()
        process.wait()
    pytest.fail("moto's server did not start on 127.0.0.1")


class MotoAws:
    """The moto server of this session, with what the tests need to set up and read AWS."""

    def __init__(self, endpoint_url: str) -> None:
        import boto3

        self.endpoint_url = endpoint_url
        self._session = boto3.session.Session(region_name=REGION)
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """A plain boto3 client of *service* at the moto server."""
        if service not in self._clients:
            self._clients[service] = self._session.client(
                service, region_name=REGION, endpoint_url=self.endpoint_url
            )
        return self._clients[service]

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=DEADLINE):
            pass

    # -- setting up ---------------------------------------------------------------------

    def queue(self, name: str) -> tuple[str, str]:
        """Create a standard SQS queue; its URL and ARN."""
        url = self.client("sqs").create_queue(QueueName=name)["QueueUrl"]
        return url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"

    def topic(self, name: str, *, raw: bool = True) -> tuple[str, str]:
        """Create an SNS topic with an SQS subscription; the topic ARN and the queue's URL.

        *raw*: raw message delivery (the queue receives the message itself) or SNS's JSON
        envelope.
        """
        topic_arn = self.client("sns").create_topic(Name=name)["TopicArn"]
        queue_url, queue_arn = self.queue(f"{name}-subscriber")
        self.client("sns").subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true" if raw else "false"},
        )
        return topic_arn, queue_url

    def event_bus(self, name: str, source: str = "lambda") -> tuple[str, str]:
        """Create an event bus whose rule sends *source*'s events to a queue; bus ARN, queue URL."""
        events = self.client("events")
        events.create_event_bus(Name=name)
        queue_url, queue_arn = self.queue(f"{name}-events")
        events.put_rule(
            Name=f"{name}-all", EventBusName=name, EventPattern=json.dumps({"source": [source]})
        )
        events.put_targets(
            Rule=f"{name}-all", EventBusName=name, Targets=[{"Id": "queue", "Arn": queue_arn}]
        )
        return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}", queue_url

    def bucket(self, name: str) -> str:
        """Create an S3 bucket; its ARN."""
        self.client("s3").create_bucket(Bucket=name)
        return f"arn:aws:s3:::{name}"

    # -- reading back -------------------------------------------------------------------

    def receive(self, queue_url: str, count: int = 1) -> list[dict[str, Any]]:
        """Wait until *count* messages can be received from the queue; return them all."""
        sqs = self.client("sqs")
        got: list[dict[str, Any]] = []

        def enough() -> bool:
            response = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            got.extend(response.get("Messages", ()))
            return len(got) >= count

        wait_for(enough, f"{count} message(s) in {queue_url}")
        return got

    def counts(self, queue_url: str) -> dict[str, int]:
        """The queue's message counts, as SQS gives them: visible, in flight, delayed."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        found = self.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
        return {name: int(value) for name, value in found["Attributes"].items()}

    def objects(self, bucket: str, count: int = 1) -> dict[str, bytes]:
        """Wait until the bucket holds *count* objects; their keys and bodies."""
        s3 = self.client("s3")

        def listed() -> list[str]:
            contents = s3.list_objects_v2(Bucket=bucket).get("Contents", ())
            keys = [item["Key"] for item in contents]
            return keys if len(keys) >= count else []

        keys = wait_for(listed, f"{count} object(s) in bucket {bucket}")
        return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The URL of a moto server on 127.0.0.1, started once per session and stopped after."""
    pytest.importorskip("moto.server", reason="moto[server] is in the tests extra")
    process, url = start_moto_server()
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> MotoAws:
    """The moto server, emptied, with dummy credentials in this process's environment."""
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    moto = MotoAws(moto_server)
    moto.reset()
    return moto
