# make package STAGE=prod && cd build/prod && terraform apply -var-file=prod.tfvars
# Not kept here (secret or account-specific): export TF_VAR_ingest_external_id, TF_VAR_read_external_id,
# TF_VAR_full_access_external_id, TF_VAR_ingest_principal_arns, TF_VAR_read_principal_arns and
# TF_VAR_full_access_principal_arns for every plan, apply and destroy.
stage                  = "prod"
region                 = "us-east-1"
lambda_runtime         = "python3.11"
log_retention_days     = 7
deletion_protection    = true
point_in_time_recovery = true
billing_mode           = "PAY_PER_REQUEST"
throttling_rate_limit  = 200
throttling_burst_limit = 400
monthly_budget_usd     = 100

# Each route's own throttle and the function's reserved concurrency (sizing: docs/DEPLOYMENT.md §9).
ingest_throttling_rate_limit  = 150
ingest_throttling_burst_limit = 300
read_throttling_rate_limit    = 50
read_throttling_burst_limit   = 100
lambda_reserved_concurrency   = 100
