"""moto's DynamoDB, one call at a time, as DynamoDB makes each write atomic.

moto serves concurrent calls on threads with no lock: two conditional PutItems
of one key can both succeed, and a write can race a read of the same
partition. DynamoDB does neither, and the service relies on the first (an
event_id is claimed with a conditional put). ``make_atomic()`` wraps every
public call of moto's DynamoDB backend in one lock, for the tests (moto
in-process) and the local stack's emulator alike.
"""
import functools
import threading

from moto.dynamodb.models import DynamoDBBackend

_LOCK = threading.RLock()


def _locked(call):
    @functools.wraps(call)
    def atomic(*args, **kwargs):
        with _LOCK:
            return call(*args, **kwargs)

    atomic.atomic = True
    return atomic


def make_atomic():
    """Make moto's DynamoDB calls atomic in this process (idempotent)."""
    for name, call in list(vars(DynamoDBBackend).items()):
        if callable(call) and not name.startswith("_") and not getattr(call, "atomic", False):
            setattr(DynamoDBBackend, name, _locked(call))
