output "namespace" {
  description = "Namespace Brain runs in."
  value       = kubernetes_namespace_v1.brain.metadata[0].name
}

output "release_name" {
  description = "Name of the Helm release."
  value       = helm_release.brain.name
}

output "chart_version" {
  description = "Version of the chart the release runs."
  value       = helm_release.brain.metadata.version
}

output "admin_token_secret" {
  description = "Name of the Secret holding BRAIN_ADMIN_TOKEN."
  value       = kubernetes_secret_v1.admin.metadata[0].name
}

output "admin_token" {
  description = "The generated admin token (Bearer token for /v1)."
  value       = random_password.admin_token.result
  sensitive   = true
}

output "backup_bucket" {
  description = "Name of the backup bucket."
  value       = aws_s3_bucket.backup.bucket
}

output "backup_bucket_arn" {
  description = "ARN of the backup bucket."
  value       = aws_s3_bucket.backup.arn
}

output "backup_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the backups."
  value       = local.kms_key_arn
}

output "backup_iam_policy_arn" {
  description = "ARN of the IAM policy the backup jobs' role or user needs."
  value       = aws_iam_policy.backup.arn
}
