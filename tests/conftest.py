from tests.aws import aws, moto_server

pytest_plugins = ["pytester"]

__all__ = ["aws", "moto_server"]
