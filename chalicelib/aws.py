"""AWS clients, built on first use and cached for the life of the process."""
import functools

import boto3
from botocore.config import Config

# botocore retries throttling and connection errors itself (standard mode);
# the repository retries UnprocessedItems on top with its own backoff.
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
    max_pool_connections=32,
)


@functools.cache
def client(service):
    return boto3.session.Session().client(service, config=_CONFIG)
