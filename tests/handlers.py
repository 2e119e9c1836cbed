"""Handlers used by the tests, kept in a file of their own so stack traces name it."""

from __future__ import annotations

import asyncio
import sys
import time


def raise_value_error(event, context):
    helper(event)


def helper(event):
    raise ValueError("Failure from event, Success = false, I am failing!")


async def async_raise(event, context):
    await asyncio.sleep(0)
    raise TypeError("async failure")


def sleep_forever_sync(event, context):
    time.sleep(event.get("seconds", 2))


async def sleep_async(event, context):
    await asyncio.sleep(event["seconds"])
    return context.get_remaining_time_in_millis()


def exit_handler(event, context):
    sys.exit(event.get("code"))
