# make package STAGE=staging && cd build/staging && terraform apply -var-file=staging.tfvars
# Not kept here (secret or account-specific): export TF_VAR_ingest_external_id, TF_VAR_read_external_id,
# TF_VAR_full_access_external_id, TF_VAR_ingest_principal_arns, TF_VAR_read_principal_arns and
# TF_VAR_full_access_principal_arns for every plan, apply and destroy.
stage                  = "staging"
region                 = "us-east-1"
lambda_runtime         = "python3.11"
log_retention_days     = 7
deletion_protection    = true
point_in_time_recovery = true
billing_mode           = "PAY_PER_REQUEST"
throttling_rate_limit  = 50
throttling_burst_limit = 100
monthly_budget_usd     = 25

# Each route's own throttle and the function's reserved concurrency (sizing: docs/DEPLOYMENT.md §9).
ingest_throttling_rate_limit  = 40
ingest_throttling_burst_limit = 80
read_throttling_rate_limit    = 10
read_throttling_burst_limit   = 20
lambda_reserved_concurrency   = 20
