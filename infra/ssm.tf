# The key that signs GET /logs/recent cursors. The function reads it at run
# time (CURSOR_KEY_PARAMETER), so it never sits in the function's
# configuration. It is in the Terraform state: keep the state encrypted.

resource "random_password" "cursor_signing_key" {
  length  = 64
  special = false
}

resource "aws_ssm_parameter" "cursor_signing_key" {
  name        = "/${var.app_name}/${var.stage}/cursor-signing-key"
  description = "HMAC key that signs ${local.name} pagination cursors"
  type        = "SecureString"
  value       = random_password.cursor_signing_key.result
}
