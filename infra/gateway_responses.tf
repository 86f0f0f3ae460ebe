# API Gateway answers some requests itself, before the function runs: a
# missing, invalid or expired SigV4 signature, a caller role without
# execute-api:Invoke on the route, throttling, an unknown path. Its default
# body is {"message": "..."}; these gateway responses give those answers the
# contract's {"Code", "Message"} shape, keeping each type's own status code.

locals {
  gateway_error_types = toset([
    "ACCESS_DENIED",
    "EXPIRED_TOKEN",
    "INVALID_SIGNATURE",
    "MISSING_AUTHENTICATION_TOKEN",
    "UNAUTHORIZED",
    "THROTTLED",
    "REQUEST_TOO_LARGE",
    "DEFAULT_4XX",
    "DEFAULT_5XX",
  ])
  gateway_error_template = "{\"Code\": \"$context.error.responseType\", \"Message\": $context.error.messageString}"
}

resource "aws_api_gateway_gateway_response" "contract_shape" {
  for_each = local.api_attached ? local.gateway_error_types : toset([])

  rest_api_id   = local.rest_api_id
  response_type = each.key

  response_templates = {
    "application/json" = local.gateway_error_template
  }
}
