"""Simple Log Service: HTTP routes only. Parse the request, call chalicelib, return."""
from chalice import Chalice, IAMAuthorizer, Response

from chalicelib import service
from chalicelib.http import caller_arn, json_errors, query_lists

app = Chalice(app_name="simple-log-service")
iam = IAMAuthorizer()


@app.route("/logs", methods=["POST"], authorizer=iam)
@json_errors
def post_logs():
    request = app.current_request
    status, body = service.ingest(request.raw_body, caller_arn(request))
    return Response(body=body, status_code=status)


@app.route("/logs/recent", methods=["GET"], authorizer=iam)
@json_errors
def recent_logs():
    return service.recent(query_lists(app.current_request))
