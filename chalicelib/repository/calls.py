"""DynamoDB calls as the repository makes them: in parallel under the request's deadline, retrying what
botocore cannot see (``UnprocessedItems``, ``UnprocessedKeys``) with full-jitter backoff.

botocore retries errors (throttling, 5xx, connections) itself; what is still unstored after both is reported,
safe to resend.
"""
import contextvars
import itertools
import random
import threading

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.repository.keys import HASH_KEY, RANGE_KEY

BATCH_WRITE_SIZE = 25
BATCH_GET_SIZE = 100
# Calls in flight per request: DynamoDB calls wait on the network, and a 1,000-event batch with event ids is
# 40 BatchWriteItem calls or 1,000 conditional puts, plus 10 key reads (packs: a conditional put per pack).
WORKERS = 32
BACKOFF_BASE_S = 0.025
BACKOFF_CAP_S = 1.0

UNSTORED = "storage throttled; resend this event"
TRANSIENT_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    "TransactionConflictException",
}


def is_transient(error):
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") in TRANSIENT_CODES
    return isinstance(error, BotoCoreError)


def is_backfilling(error):
    """An index added to a live table answers this until DynamoDB has built it (see DEPLOYMENT.md)."""
    return (isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == "ValidationException"
            and "backfilling" in error.response.get("Error", {}).get("Message", "").lower())


def parallel(function, items):
    """``function`` over ``items``, up to ``WORKERS`` at once, each under the caller's deadline.

    Every worker thread is started before any of them works: a thread started
    while others run Python waits for the interpreter lock before ``start()``
    returns (up to a switch interval each), which a pool that starts a thread
    per submitted call pays on every cold read.
    """
    if len(items) <= 1:
        return [function(item) for item in items]
    results = [None] * len(items)
    failures = []
    positions = itertools.count()
    go = threading.Event()

    def work(context):
        go.wait()
        for index in iter(positions.__next__, None):
            if index >= len(items) or failures:
                return
            try:
                results[index] = context.run(function, items[index])
            except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread below
                failures.append(error)
                return

    workers = [threading.Thread(target=work, args=(contextvars.copy_context(),), daemon=True)
               for _ in range(min(WORKERS, len(items)))]
    for worker in workers:
        worker.start()
    go.set()
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]
    return results


def chunks(pairs, size):
    return [pairs[start:start + size] for start in range(0, len(pairs), size)]




def key_of(item):
    return {HASH_KEY: item[HASH_KEY], RANGE_KEY: item[RANGE_KEY]}


def identity_of(item):
    return item[HASH_KEY]["S"], item[RANGE_KEY]["S"]


class Calls:
    """The calls of one table: ``client`` is a botocore DynamoDB client."""

    def __init__(self, client, table_name, max_attempts, sleep):
        self.client = client
        self.table = table_name
        self._max_attempts = max_attempts
        self._sleep = sleep

    def put_if_absent(self, item, old=True):
        """``(None, None)`` when written now, ``(the item there, None)`` when the key was taken, else
        ``(None, error)``. Without ``old`` the item there is not downloaded: ``({}, None)`` says it is there."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": HASH_KEY},
                ReturnValuesOnConditionCheckFailure="ALL_OLD" if old else "NONE",
            )
            return None, None
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                if not old:
                    return {}, None
                if "Item" in error.response:
                    return error.response["Item"], None
                return None, UNSTORED  # refused without saying what is there: let a resend find out
            if not is_transient(error):
                raise
        except BotoCoreError:
            pass
        return None, UNSTORED

    def read_keys(self, keys, attributes, consistent=True, spent=None):
        """``({index: item}, indexes unchecked)`` for ``{index: key}``: BatchGetItems of the keys and
        ``attributes`` (every attribute when None), so that a resend never downloads what it sent; the read
        units they consume are appended to ``spent`` if given."""
        by_identity = {identity_of(key): index for index, key in keys.items()}
        present, unchecked = {}, set()
        for found, left in parallel(lambda chunk: self._get_chunk(chunk, attributes, consistent, spent),
                                     chunks(list(keys.values()), BATCH_GET_SIZE)):
            present.update((by_identity[identity_of(item)], item) for item in found)
            unchecked.update(by_identity[identity] for identity in left)
        return present, unchecked

    def _get_chunk(self, keys, attributes, consistent, spent):
        """``(items found, identities unchecked)`` for up to 100 keys."""
        found = []
        request = {"ConsistentRead": consistent}
        metered = {} if spent is None else {"ReturnConsumedCapacity": "TOTAL"}
        if attributes is not None:
            names = {f"#a{number}": name for number, name in enumerate((HASH_KEY, RANGE_KEY, *attributes))}
            request.update(ProjectionExpression=", ".join(names), ExpressionAttributeNames=names)

        def send(pending):
            response = self.client.batch_get_item(RequestItems={self.table: {**request, "Keys": pending}}, **metered)
            found.extend(response.get("Responses", {}).get(self.table, []))
            if spent is not None:
                spent.extend(use.get("CapacityUnits", 0) for use in response.get("ConsumedCapacity", []))
            return response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])

        left = self.until_processed(send, keys)
        return found, {identity_of(key) for key in left}

    def write_items(self, items):
        """BatchWriteItem in chunks, in parallel; returns ``{index: error}`` for unstored ones."""
        failures = {}
        for chunk_failures in parallel(self._write_chunk, chunks(list(items.items()), BATCH_WRITE_SIZE)):
            failures.update(chunk_failures)
        return failures

    def _write_chunk(self, chunk):
        def send(pending):
            requests = [{"PutRequest": {"Item": item}} for item in pending.values()]
            response = self.client.batch_write_item(RequestItems={self.table: requests})
            unprocessed = response.get("UnprocessedItems", {}).get(self.table, [])
            left = {identity_of(request["PutRequest"]["Item"]) for request in unprocessed}
            return {index: item for index, item in pending.items() if identity_of(item) in left}

        return {index: UNSTORED for index in self.until_processed(send, dict(chunk))}

    def until_processed(self, send, pending):
        """``send(pending)`` again with what DynamoDB handed back, while attempts and the deadline allow.

        Returns what is still pending: handed back every time, or not sent
        because botocore gave up on an error (it retries errors itself).
        """
        for attempt in self._attempts():
            try:
                pending = send(pending)
            except (ClientError, BotoCoreError) as error:
                if not is_transient(error):
                    raise
                break
            if not pending:
                break
            self._backoff(attempt)
        return pending

    def _attempts(self):
        """Attempt numbers for work DynamoDB handed back, while the request's deadline allows."""
        deadline = aws.current_deadline()
        for attempt in range(self._max_attempts):
            if attempt and deadline.expired:
                return
            yield attempt

    def _backoff(self, attempt):
        if attempt + 1 < self._max_attempts:
            pause = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt))
            self._sleep(min(pause, aws.current_deadline().remaining_s()))

    # --- reads --------------------------------------------------------------

