"""One function of a SAM or CloudFormation template, as the command runs it.

Reads the settings an asynchronous invoke depends on: the handler and its code directory,
``Timeout``, ``MemorySize``, ``ReservedConcurrentExecutions``, the event invoke config
(``EventInvokeConfig`` on a SAM function or a standalone ``AWS::Lambda::EventInvokeConfig``),
the dead-letter queue (``DeadLetterQueue`` / ``DeadLetterConfig``), ``Environment`` variables and
SAM's ``Globals``. Numbers are checked against AWS's ranges by the library's own table, so a
template value out of range gets the message the library gives.

- ``_loading``: the file read and parsed (YAML or JSON, ``cli/_yaml.py``), its function picked.
- ``_document``: the parsed template: resources by logical id, which are functions.
- ``_function``: one function resource read into a `FunctionTemplate`.
- ``_properties``: a function's properties, resolved one by one.
- ``_invoke_config``: its event invoke config and dead-letter queue.
- ``_destinations``: a destination as written, mapped to an ARN or a template resource.
- ``_model``: `FunctionTemplate` and `TemplateDestination`, what the command uses.
"""

from ._loading import read_template
from ._model import FunctionTemplate, TemplateDestination

__all__ = ["FunctionTemplate", "TemplateDestination", "read_template"]
