"""The local stack's event source mapping: the table's stream → the app's ``archive`` function, as Lambda
polls a DynamoDB stream for the mapping of infra/archive.tf.

Every ``POLL_S`` seconds each shard of the table's latest stream is read on from where the last poll stopped
(from ``TRIM_HORIZON`` the first time: GetShardIterator, then GetRecords with each answer's
``NextShardIterator``). Its ``INSERT`` records (the mapping's filter) go to the function in batches of at most
1,000 through ``devtools.stream_delivery``, with Lambda's retries, bisection and dead-letter queue (here a queue
of the emulator's SQS). The function runs in this process, with the stage's environment, ``ARCHIVE_BUCKET`` and
the emulator's endpoints, as Lambda runs it. Every client finds the emulator as the app's do, by the
``AWS_ENDPOINT_URL_<SERVICE>`` variables ``devtools.run_local`` sets.

``devtools.run_local`` starts it:
``python -m devtools.local_archive --stage local --table NAME --bucket NAME --dead-letter-queue URL``.
"""
import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from devtools.stream_delivery import BATCH_SIZE, batches, deliver, lambda_record

ROOT = Path(__file__).resolve().parent.parent
FUNCTION = "archive"
POLL_S = 2.0


class StreamPoller:
    """Reads the table's stream on from where it stopped, and hands its INSERT records to ``handler``."""

    def __init__(self, dynamodb, streams, table_name, handler, dead_letter):
        self._dynamodb = dynamodb
        self._streams = streams
        self._table_name = table_name
        self._handler = handler
        self._dead_letter = dead_letter
        self._iterators = {}  # shard id -> the iterator to read on with; None once a closed shard is read

    def poll(self):
        """Deliver every record the stream holds past the last poll; returns how many were delivered."""
        stream_arn = self._dynamodb.describe_table(TableName=self._table_name)["Table"]["LatestStreamArn"]
        delivered = 0
        for shard_id in self._shards(stream_arn):
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self._streams.get_shard_iterator(
                    StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while self._iterators[shard_id] is not None:
                answer = self._streams.get_records(ShardIterator=self._iterators[shard_id], Limit=BATCH_SIZE)
                batch = [lambda_record(record, stream_arn) for record in answer["Records"]
                         if record["eventName"] == "INSERT"]
                for each in batches(batch):  # as Lambda cuts them: 1,000 records or 6 MB
                    deliver(self._handler, each, self._dead_letter, shard_id=shard_id, stream_arn=stream_arn)
                    delivered += len(each)
                self._iterators[shard_id] = answer.get("NextShardIterator")
                if not answer["Records"]:
                    break
        return delivered

    def _shards(self, stream_arn):
        shards, start = [], {}
        while True:
            description = self._streams.describe_stream(StreamArn=stream_arn, **start)["StreamDescription"]
            shards.extend(shard["ShardId"] for shard in description["Shards"])
            if not description.get("LastEvaluatedShardId"):
                return shards
            start = {"ExclusiveStartShardId": description["LastEvaluatedShardId"]}


def archive_function(stage, bucket):
    """The app's ``archive`` function, with the stage's environment and ``ARCHIVE_BUCKET`` set in this process."""
    from chalice.cli.factory import CLIFactory

    config = CLIFactory(project_dir=str(ROOT), environ=os.environ).create_config_obj(chalice_stage_name=stage)
    os.environ.update(config.scope(stage, FUNCTION).environment_variables)
    os.environ["ARCHIVE_BUCKET"] = bucket
    for function in config.chalice_app.pure_lambda_functions:
        if function.name == FUNCTION:
            return function
    raise SystemExit(f"app.py has no lambda function named {FUNCTION!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="local")
    parser.add_argument("--table", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--dead-letter-queue", required=True, metavar="URL")
    parser.add_argument("--interval", type=float, default=POLL_S)
    args = parser.parse_args(argv)

    function = archive_function(args.stage, args.bucket)
    sqs = boto3.client("sqs")

    def dead_letter(message):
        sqs.send_message(QueueUrl=args.dead_letter_queue, MessageBody=json.dumps(message))
        print(f"archive: a batch went to the dead-letter queue: {json.dumps(message)}", file=sys.stderr, flush=True)

    poller = StreamPoller(boto3.client("dynamodb"), boto3.client("dynamodbstreams"), args.table, function,
                          dead_letter)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            try:
                poller.poll()
            except (BotoCoreError, ClientError) as error:  # the next poll reads on from the same place
                print(f"archive: cannot read the stream: {error}", file=sys.stderr, flush=True)
            time.sleep(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
