# The key that signs GET /logs/recent cursors. The function reads it at run
# time (CURSOR_KEY_PARAMETER), so it never sits in the function's
# configuration. It is encrypted with the stage's key (not the account-wide
# aws/ssm key, which every principal of the account allowed ssm:GetParameter
# may decrypt); it is also in the Terraform state: keep the state encrypted.
#
# Rotation puts a new version of the parameter: `terraform apply
# -replace=random_password.cursor_signing_key` (docs/DEPLOYMENT.md). The
# function reads versions by selector (<name>:<version>), which IAM authorizes
# on the parameter's own ARN, so its grant covers every version.

locals {
  cursor_key_parameter_name = "/${var.app_name}/${var.stage}/cursor-signing-key"
  # Built from its name: the parameter's own ARN would make the key policy depend on the parameter it encrypts.
  cursor_key_parameter_arn = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.cursor_key_parameter_name}"
}

resource "random_password" "cursor_signing_key" {
  length  = 64
  special = false
}

resource "aws_ssm_parameter" "cursor_signing_key" {
  name        = local.cursor_key_parameter_name
  description = "HMAC key that signs ${local.name} pagination cursors"
  type        = "SecureString"
  key_id      = aws_kms_key.this.arn
  value       = random_password.cursor_signing_key.result
}
