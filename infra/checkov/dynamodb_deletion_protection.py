"""Custom checkov check: every DynamoDB table is protected against deletion.

checkov ships no such check. The log table holds the only copy of the logs;
a stage that may lose them (dev) turns protection off in its tfvars, while
the module's default stays on.
"""
from checkov.common.models.enums import CheckCategories
from checkov.terraform.checks.resource.base_resource_value_check import BaseResourceValueCheck


class DynamoDBDeletionProtection(BaseResourceValueCheck):
    def __init__(self):
        super().__init__(
            name="Ensure DynamoDB tables have deletion protection enabled",
            id="CKV_SLS_1",
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=["aws_dynamodb_table"],
        )

    def get_inspected_key(self):
        return "deletion_protection_enabled"


check = DynamoDBDeletionProtection()
