# make package STAGE=dev && cd build/dev && terraform apply -var-file=dev.tfvars
# Not kept here (secret or account-specific): export TF_VAR_ingest_external_id, TF_VAR_read_external_id,
# TF_VAR_full_access_external_id, TF_VAR_ingest_principal_arns, TF_VAR_read_principal_arns and
# TF_VAR_full_access_principal_arns for every plan, apply and destroy.
stage                  = "dev"
region                 = "us-east-1"
lambda_runtime         = "python3.11"
log_retention_days     = 3
deletion_protection    = false
point_in_time_recovery = true
billing_mode           = "PAY_PER_REQUEST"
throttling_rate_limit  = 20
throttling_burst_limit = 40
monthly_budget_usd     = 10

# Each route's own throttle and the function's reserved concurrency (sizing: docs/DEPLOYMENT.md §9).
ingest_throttling_rate_limit  = 15
ingest_throttling_burst_limit = 30
read_throttling_rate_limit    = 5
read_throttling_burst_limit   = 10
lambda_reserved_concurrency   = 10
