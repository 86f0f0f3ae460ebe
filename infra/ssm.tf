# The service's two secrets, read by the function at run time from the
# parameters its environment names (CURSOR_KEY_PARAMETER, SHARD_KEY_PARAMETER),
# so they never sit in the function's configuration. Each is encrypted with
# the stage's key (not the account-wide aws/ssm key, which every principal of
# the account allowed ssm:GetParameter may decrypt); both are also in the
# Terraform state: keep the state encrypted.

locals {
  cursor_key_parameter_name = "/${var.app_name}/${var.stage}/cursor-signing-key"
  shard_key_parameter_name  = "/${var.app_name}/${var.stage}/shard-key"
  # Built from their names: the parameters' own ARNs would make the key policy depend on the parameters it encrypts.
  cursor_key_parameter_arn = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.cursor_key_parameter_name}"
  shard_key_parameter_arn  = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.shard_key_parameter_name}"
}

# The key that signs GET /logs/recent cursors. Rotation puts a new version of
# the parameter: `terraform apply -replace=random_password.cursor_signing_key`
# (docs/DEPLOYMENT.md). The function reads versions by selector
# (<name>:<version>), which IAM authorizes on the parameter's own ARN, so its
# grant covers every version.

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

# The key of derived log ids: an event's id, and so the shard it is stored on,
# is an HMAC under it, so a caller cannot choose its partition. It is NEVER
# rotated while the stage holds data: a resend is recognised (stored once, or
# refused as a conflict) only if it derives the id its first send wrote, under
# the same key. There is no -replace for it.
#
# Its value is fixed once generated: ignore_changes keeps a later edit of the
# arguments (length, character set) from generating a new key for a live stage;
# such an edit applies to new stages only. It is not prevent_destroy: that would
# refuse the destroy of docs/DEPLOYMENT.md's clean-up in every stage, and the key
# is worth nothing once the table it keys is gone.

resource "random_password" "shard_key" {
  length  = 64
  special = false

  lifecycle {
    ignore_changes = all
  }
}

resource "aws_ssm_parameter" "shard_key" {
  name        = local.shard_key_parameter_name
  description = "HMAC key of ${local.name} derived log ids and their shards; never rotate it while data is live"
  type        = "SecureString"
  key_id      = aws_kms_key.this.arn
  value       = random_password.shard_key.result
}
