output "namespace" {
  description = "Namespace Brain runs in."
  value       = module.brain.namespace
}

output "admin_token_secret" {
  description = "Secret holding BRAIN_ADMIN_TOKEN (read it with kubectl, or `terraform output -raw admin_token`)."
  value       = module.brain.admin_token_secret
}

output "admin_token" {
  description = "The generated admin token."
  value       = module.brain.admin_token
  sensitive   = true
}

output "backup_bucket" {
  description = "Backup bucket name."
  value       = module.brain.backup_bucket
}

output "backup_iam_policy_arn" {
  description = "IAM policy to attach to the role the backup jobs use."
  value       = module.brain.backup_iam_policy_arn
}
