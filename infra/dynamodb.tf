locals {
  # The one definition of the table's keys, index and TTL attribute, shared
  # with the local stack (devtools/table.py) and checked against the code.
  table_schema = jsondecode(file("${path.module}/table_schema.json"))
  provisioned  = var.billing_mode == "PROVISIONED"
}

resource "aws_dynamodb_table" "logs" {
  name                        = local.name
  billing_mode                = var.billing_mode
  read_capacity               = local.provisioned ? var.read_capacity : null
  write_capacity              = local.provisioned ? var.write_capacity : null
  hash_key                    = local.table_schema.hash_key
  range_key                   = local.table_schema.range_key
  deletion_protection_enabled = var.deletion_protection
  # The archive's source (archive.tf): each new item's image, nothing of the old one.
  stream_enabled   = true
  stream_view_type = "NEW_IMAGE"

  dynamic "attribute" {
    for_each = local.table_schema.attributes
    content {
      name = attribute.value.name
      type = attribute.value.type
    }
  }

  dynamic "global_secondary_index" {
    for_each = local.table_schema.global_secondary_indexes
    content {
      name            = global_secondary_index.value.name
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = global_secondary_index.value.projection_type
      # Only pack_timeline (INCLUDE) names the attributes it projects besides the keys.
      non_key_attributes = lookup(global_secondary_index.value, "non_key_attributes", null)
      read_capacity   = local.provisioned ? var.read_capacity : null
      write_capacity  = local.provisioned ? var.write_capacity : null
    }
  }

  ttl {
    enabled        = true
    attribute_name = local.table_schema.ttl_attribute
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
    # PITR would otherwise keep 35 days of the table's history, events past their
    # retention included: keep no more than the retention (DynamoDB allows 1 to 35 days).
    recovery_period_in_days = var.point_in_time_recovery ? min(var.log_retention_days, 35) : null
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }
}
