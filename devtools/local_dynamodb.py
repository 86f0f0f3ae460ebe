"""The local stack's DynamoDB emulator: ``moto_server`` with every call atomic, as DynamoDB makes each write.

moto serves concurrent calls on threads without a lock, so two conditional puts of one
key could both succeed; the service's event_id claims rely on DynamoDB refusing the
second (``devtools.moto_atomic``). ``make run`` starts this instead of ``moto_server``;
it takes the same options (``-H HOST -p PORT``).
"""
import sys

from moto.server import main as moto_main

from devtools.moto_atomic import make_atomic


def main(argv=None):
    make_atomic()
    return moto_main(argv)


if __name__ == "__main__":
    sys.exit(main())
