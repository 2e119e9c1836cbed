"""Benchmarks of lambda_destinations against a bare-asyncio floor and against peer task queues.

Every figure that matters is a ratio measured in one run on one machine: absolute numbers on
a shared machine are noise. Run ``make bench`` or ``python -m benchmarks --help``.
"""
