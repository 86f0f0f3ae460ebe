"""Simple Log Service: HTTP routes only. Parse the request, call chalicelib, return."""
from chalice import Chalice, IAMAuthorizer

from chalicelib import http, service

app = Chalice(app_name="simple-log-service")
iam = IAMAuthorizer()


@app.route("/logs", methods=["POST"], authorizer=iam)
@http.json_errors
def post_logs():
    request = app.current_request
    return http.ingest_response(service.ingest(request.raw_body, http.caller_arn(request), http.deadline(app)))


@app.route("/logs/recent", methods=["GET"], authorizer=iam)
@http.json_errors
def recent_logs():
    return http.recent_response(service.recent(http.query_lists(app.current_request), http.deadline(app)))
