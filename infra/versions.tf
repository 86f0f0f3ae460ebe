terraform {
  # Chalice's generated Terraform pins "< 1.4" and AWS "< 5"; `make package`
  # drops that block, so these are the only constraints of the merged module.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      # 5.98.0: the first 5.x with point_in_time_recovery.recovery_period_in_days.
      version = ">= 5.98.0, < 6.0.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.5.0, < 4.0.0"
    }
  }
}
