"""Simple Log Service: HTTP routes only. Parse the request, call chalicelib, return."""
from chalice import Chalice, IAMAuthorizer

from chalicelib import archiving, http, otlp, service

app = Chalice(app_name="simple-log-service")
app.api.binary_types.append(otlp.PROTOBUF)
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


# Every content type reaches the view, so that an unsupported one gets OTLP's 415, not Chalice's.
@app.route("/v1/logs", methods=["POST"], authorizer=iam, content_types=["*/*"])
@http.otlp_errors(app)
def post_otlp_logs():
    request = app.current_request
    outcome = service.export_logs(request.raw_body, request.headers.get("content-type"),
                                  request.headers.get("content-encoding"), http.caller_arn(request), http.deadline(app))
    return http.export_response(outcome, request)


@app.lambda_function(name="archive")
def archive(event, context):
    """The table's stream → the S3 archive (the event source mapping is Terraform's: infra/archive.tf)."""
    return archiving.handle(event)
