"""The ``lambda-destinations`` command: run a Lambda handler the asynchronous way.

``lambda-destinations invoke app.py:handler --event '{...}' --virtual-time`` runs the handler
as Lambda runs an ``Event`` invocation, with the retries, maximum event age, destinations and
dead-letter queue of flags or of a SAM / CloudFormation template. Needs the ``cli`` extra
(PyYAML and rich); ``import lambda_destinations`` never loads this package.
"""

from ._main import build_parser, main

__all__ = ["build_parser", "main"]
