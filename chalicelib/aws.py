"""AWS clients, built on first use and cached for the life of the process, and the request's time budget.

botocore retries throttling, 5xx and connection errors itself (standard
mode); nothing else retries those. Every attempt it makes first checks the
current request's ``Deadline``: once the budget is spent, no new attempt
starts and the call raises ``DeadlineExceeded``, so whatever is unstored can
still be answered as retryable before Lambda stops the function.
"""
import contextlib
import contextvars
import functools
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from chalicelib import settings

CONNECT_TIMEOUT_S = 2


def _config():
    return Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=settings.storage_read_timeout_s(),
        max_pool_connections=32,
        # The repository builds every request itself; checking each against the model again costs a
        # cold read's 16 Queries measurable time, and DynamoDB refuses a malformed one anyway.
        parameter_validation=False,
    )


def safety_margin_ms():
    """Room left after the budget for one attempt already under way, and the answer."""
    return (CONNECT_TIMEOUT_S + settings.storage_read_timeout_s() + 1) * 1000


# The budget when no Lambda context says how long is left (tests, tools).
DEFAULT_BUDGET_MS = 12_000


class DeadlineExceeded(BotoCoreError):
    fmt = "the request's time budget is spent"


class Deadline:
    """A point in time after which a request starts no new storage call."""

    def __init__(self, budget_ms, clock=time.monotonic):
        self._clock = clock
        self._end = clock() + max(0, budget_ms) / 1000

    @classmethod
    def for_lambda(cls, context, clock=time.monotonic):
        """The time Lambda leaves this invocation, less a margin for the call in flight and the answer."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is None:
            return cls(DEFAULT_BUDGET_MS, clock)
        return cls(remaining() - safety_margin_ms(), clock)

    def remaining_s(self):
        return max(0.0, self._end - self._clock())

    @property
    def expired(self):
        return self._clock() >= self._end


_current = contextvars.ContextVar("deadline", default=None)


@contextlib.contextmanager
def within(deadline=None):
    """Run the block under ``deadline`` (None: the one in force, or a default).

    Threads the repository starts run in a copy of this context, so under it too.
    """
    deadline = deadline or current_deadline()
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


def current_deadline():
    """The deadline of the request being served; a fresh default one outside any."""
    return _current.get() or Deadline(DEFAULT_BUDGET_MS)


def _check_deadline(**_):
    deadline = _current.get()
    if deadline is not None and deadline.expired:
        raise DeadlineExceeded()


@functools.cache
def client(service):
    made = boto3.session.Session().client(service, config=_config())
    made.meta.events.register_first(f"before-send.{made.meta.service_model.service_id.hyphenize()}",
                                    _check_deadline)
    return made
