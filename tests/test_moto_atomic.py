"""The DynamoDB emulator must make a conditional write atomic, as DynamoDB does (the claims rely on it)."""
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.conftest import TABLE_NAME


@pytest.fixture
def eager_thread_switching():
    """Switch threads as often as the interpreter can, so that a race shows at once."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_of_concurrent_conditional_puts_of_one_key_exactly_one_wins(dynamodb, eager_thread_switching):
    key = {"pk": {"S": "E#race"}, "sk": {"S": "E"}}

    def claim(start):
        start.wait()
        try:
            dynamodb.put_item(TableName=TABLE_NAME, Item=key, ConditionExpression="attribute_not_exists(pk)")
            return True
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False

    winners = []
    for _ in range(20):
        dynamodb.delete_item(TableName=TABLE_NAME, Key=key)
        start = threading.Barrier(8)
        with ThreadPoolExecutor(8) as pool:
            winners.append(sum(pool.map(claim, [start] * 8)))
    assert winners == [1] * 20
