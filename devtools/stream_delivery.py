"""Lambda's delivery of a DynamoDB stream's records to a function, as the archive's event source mapping
configures it (infra/archive.tf): for the local stack's poller and the tests, which have no Lambda.

``deliver`` hands a batch of records to the handler as ``{"Records": [...]}``. When the handler raises, the
batch is split in two and each half delivered again (bisect on error: AWS splits "before retrying"), a batch of
one record is retried as it is, each time one retry of the ``MAXIMUM_RETRY_ATTEMPTS`` the records have; a batch
that fails with no retry left goes to the dead-letter callable as Lambda's on-failure destination sends it to
SQS: which records (the shard and the first and last sequence numbers), never the records themselves. Records
are delivered in order: a batch's second half only after its first half succeeded or was dead-lettered.

Not mirrored: the mapping's ``eventName = INSERT`` filter (records are delivered as given: the handler skips
what it does not archive) and ``maximum_record_age_in_seconds`` (no clock here).
"""
import base64
import json

MAXIMUM_RETRY_ATTEMPTS = 4
BATCH_SIZE = 1000
# Lambda hands a function at most this much JSON: a batch is cut before a record that would pass it.
PAYLOAD_BYTES = 6 * 1024 * 1024


def stream_records(streams, stream_arn):
    """Every record stream ``stream_arn`` holds (``streams``: a DynamoDB Streams client), shard after shard, in
    Lambda's form."""
    records = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=BATCH_SIZE)
            records += [lambda_record(record, stream_arn) for record in page["Records"]]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return records


def lambda_record(record, stream_arn):
    """A record as DynamoDB Streams' API answers it (boto3: binary values as bytes, times as datetimes) in the
    form Lambda hands it to a function (JSON: binary values as base64 text, times as epoch seconds)."""
    stream = dict(record["dynamodb"])
    for image in ("Keys", "NewImage", "OldImage"):
        if image in stream:
            stream[image] = {name: _json_value(value) for name, value in stream[image].items()}
    if "ApproximateCreationDateTime" in stream:
        stream["ApproximateCreationDateTime"] = stream["ApproximateCreationDateTime"].timestamp()
    return {**record, "dynamodb": stream, "eventSourceARN": stream_arn}


def _json_value(value):
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode("ascii")}
    if kind == "BS":
        return {"BS": [base64.b64encode(each).decode("ascii") for each in inner]}
    if kind == "M":
        return {"M": {name: _json_value(each) for name, each in inner.items()}}
    if kind == "L":
        return {"L": [_json_value(each) for each in inner]}
    return value


def batches(records):
    """``records`` (in Lambda's form, in stream order) cut into the batches Lambda would hand the function: at
    most ``BATCH_SIZE`` records and ``PAYLOAD_BYTES`` of JSON each."""
    made, batch, size = [], [], len(b'{"Records":[]}')
    for record in records:
        record_bytes = len(json.dumps(record, separators=(",", ":"))) + 1
        if batch and (len(batch) == BATCH_SIZE or size + record_bytes > PAYLOAD_BYTES):
            made.append(batch)
            batch, size = [], len(b'{"Records":[]}')
        batch.append(record)
        size += record_bytes
    return made + [batch] if batch else made


def deliver(handler, records, dead_letter, shard_id="shardId-local", stream_arn="",
            retries=MAXIMUM_RETRY_ATTEMPTS):
    """Deliver ``records`` (in Lambda's form, in stream order, at most ``BATCH_SIZE``) to ``handler(event,
    context)``; a range that fails with no retry left is passed to ``dead_letter(message)``.

    Returns the number of records dead-lettered (0: all delivered).
    """
    def attempt(batch, retries_left, invocations):
        try:
            handler({"Records": batch}, None)
            return 0
        except Exception:  # noqa: BLE001 - any error of the function fails the batch, as in Lambda
            if retries_left == 0:
                dead_letter(failure_message(batch, shard_id, stream_arn, invocations))
                return len(batch)
        if len(batch) == 1:
            return attempt(batch, retries_left - 1, invocations + 1)
        half = len(batch) // 2
        return (attempt(batch[:half], retries_left - 1, invocations + 1)
                + attempt(batch[half:], retries_left - 1, invocations + 1))

    if len(records) > BATCH_SIZE:
        raise ValueError(f"a batch holds at most {BATCH_SIZE} records")
    return attempt(list(records), retries, 1) if records else 0


def failure_message(batch, shard_id, stream_arn, invocations):
    """What Lambda's on-failure destination receives for a stream batch it gave up on."""
    return {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": invocations},
        "responseContext": {"functionError": "Unhandled"},
        "version": "1.0",
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
            "batchSize": len(batch),
            "streamArn": stream_arn,
        },
    }
