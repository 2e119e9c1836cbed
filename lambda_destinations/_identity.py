"""Names and ARNs of the function an invoker stands for, checked as AWS checks them."""

from __future__ import annotations

import re
from typing import Final

from attrs import frozen

from ._exceptions import ConfigurationError
from ._settings import text

__all__ = ["DEFAULT_ACCOUNT_ID", "DEFAULT_REGION", "FunctionIdentity", "default_function_name"]

#: The account and region AWS documents in its examples; also moto's defaults.
DEFAULT_ACCOUNT_ID: Final = "123456789012"
DEFAULT_REGION: Final = "us-east-1"

_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_VERSION = re.compile(r"[1-9][0-9]{0,19}")
_ALIAS = re.compile(r"(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}")
_REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-\d")
_ACCOUNT = re.compile(r"\d{12}")


@frozen
class FunctionIdentity:
    """Names and ARNs of the function an invoker stands for, derived once."""

    function_name: str
    qualifier: str
    executed_version: str
    region: str
    account_id: str

    @classmethod
    def build(
        cls,
        function_name: str,
        qualifier: str,
        executed_version: str | None,
        region: str,
        account_id: str,
    ) -> FunctionIdentity:
        function_name = text("function_name", function_name)
        qualifier = text("qualifier", qualifier)
        region = text("region", region)
        account_id = text("account_id", account_id)
        if executed_version is not None:
            executed_version = text("executed_version", executed_version)
        if not _NAME.fullmatch(function_name):
            msg = (
                f"function_name={function_name!r} is not a valid Lambda function name: use 1 "
                "to 64 letters, digits, hyphens or underscores"
            )
            raise ConfigurationError(msg)
        if not _REGION.fullmatch(region):
            msg = f"region={region!r} is not an AWS region name such as 'us-east-1'"
            raise ConfigurationError(msg)
        if not _ACCOUNT.fullmatch(account_id):
            msg = f"account_id={account_id!r} must be 12 digits, such as {DEFAULT_ACCOUNT_ID!r}"
            raise ConfigurationError(msg)
        if qualifier == "$LATEST" or _VERSION.fullmatch(qualifier):
            if executed_version not in (None, qualifier):
                msg = (
                    f"qualifier={qualifier!r} is a version, so it is the executed version; "
                    f"executed_version={executed_version!r} contradicts it: leave it out"
                )
                raise ConfigurationError(msg)
            executed_version = qualifier
        elif _ALIAS.fullmatch(qualifier):
            if executed_version is None or not (
                executed_version == "$LATEST" or _VERSION.fullmatch(executed_version)
            ):
                msg = (
                    f"qualifier={qualifier!r} is an alias: pass executed_version= with the "
                    "version it resolves to ('$LATEST' or a version number such as '3')"
                )
                raise ConfigurationError(msg)
        else:
            msg = (
                f"qualifier={qualifier!r} is neither '$LATEST', a version number nor an alias "
                "name (letters, digits, hyphens, underscores; not all digits)"
            )
            raise ConfigurationError(msg)
        return cls(function_name, qualifier, executed_version, region, account_id)

    @property
    def partition(self) -> str:
        """AWS's partition of the region: ``aws``, ``aws-cn`` or ``aws-us-gov``."""
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @property
    def unqualified_arn(self) -> str:
        return (
            f"arn:{self.partition}:lambda:{self.region}:{self.account_id}:function:"
            f"{self.function_name}"
        )

    @property
    def function_arn(self) -> str:
        """The qualified ARN records carry, even when invoked by bare name."""
        return f"{self.unqualified_arn}:{self.qualifier}"

    @property
    def invoked_function_arn(self) -> str:
        """The ARN the caller used: bare for ``$LATEST``, qualified for a version or alias."""
        if self.qualifier == "$LATEST":
            return self.unqualified_arn
        return self.function_arn


def default_function_name(handler: object) -> str:
    """A valid function name from the handler's own name, for an invoker given none."""
    name = getattr(handler, "__name__", None) or type(handler).__name__
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-")
    return (cleaned or "function")[:64]
