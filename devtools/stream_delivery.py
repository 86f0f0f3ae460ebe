"""STAND-IN until the core helper's ``devtools.stream_delivery`` is merged (theirs replaces this file whole):
the same interface, ``lambda_record`` and ``deliver``, with Lambda's retries and dead-letter queue but no
bisection, so that the local stack's poller (``devtools.local_archive``) runs on this branch."""
import base64

MAXIMUM_RETRY_ATTEMPTS = 4
BATCH_SIZE = 1000


def lambda_record(record, stream_arn):
    """A record as DynamoDB Streams' API answers it through boto3 (binary values as bytes, times as datetimes)
    in the form Lambda hands it to a function (binary values as base64 text, times as epoch seconds)."""
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


def deliver(handler, records, dead_letter, shard_id="shardId-local", stream_arn="",
            retries=MAXIMUM_RETRY_ATTEMPTS):
    """``handler({"Records": records}, None)``, retried up to ``retries`` times; then ``dead_letter(message)``
    with the shard and the first and last sequence numbers. Returns the number of records dead-lettered."""
    for _ in range(retries + 1):
        try:
            handler({"Records": list(records)}, None)
            return 0
        except Exception:  # noqa: BLE001 - any error of the function fails the batch, as in Lambda
            continue
    dead_letter({"requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": retries + 1},
                 "DDBStreamBatchInfo": {"shardId": shard_id, "streamArn": stream_arn, "batchSize": len(records),
                                        "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                                        "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"]}})
    return len(records)
