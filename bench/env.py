"""The process environment every benchmark runs in, and the Lambda entry point.

No benchmark reaches AWS: dummy credentials, no metadata probe, no endpoint
override left over from the caller's shell. The app sees the ``test`` stage's
settings (and the shard counts every stage shares) as it would in Lambda.
"""
import json
import os
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = "test"
CALLER_ARN = "arn:aws:sts::123456789012:assumed-role/simple-log-service-log-ingest-prod/ingest-session"
SAFE_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def chalice_config():
    return json.loads((ROOT / ".chalice" / "config.json").read_text())


def stage_environment(stage=STAGE):
    config = chalice_config()
    return {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}


def lambda_memory_mb():
    config = chalice_config()
    return config["stages"][STAGE].get("lambda_memory_size", config.get("lambda_memory_size", 128))


def configure():
    """Make this process look like the app's Lambda function on the test stage, offline."""
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL") or name == "AWS_PROFILE"]:
        del os.environ[name]
    os.environ.update(SAFE_ENV)
    os.environ.update(stage_environment())
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


class LambdaContext:
    function_name = "simple-log-service-bench"
    memory_limit_in_mb = 512

    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis():
        # moto answers far slower than DynamoDB (its index Queries take time in proportion to the
        # table): a request's deadline must not cut a measurement short.
        return 600_000


def lambda_event(method, path, body=None, query=None, caller_arn=CALLER_ARN):
    """An API Gateway REST proxy event, as API Gateway hands it to the function after IAM auth."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {"content-type": ["application/json"]},
        "queryStringParameters": {name: values[-1] for name, values in query.items()} if query else None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "identity": {"sourceIp": "198.51.100.7", "userArn": caller_arn},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def invoke(app, event):
    """Call the Chalice app the way Lambda does; ``(status, decoded body)``."""
    response = app(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])
