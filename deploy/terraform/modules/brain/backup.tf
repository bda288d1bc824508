# The backup bucket: versioned, KMS-encrypted, private, TLS-only, with a lifecycle.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  kms_key_arn = var.backup_kms_key_arn != null ? var.backup_kms_key_arn : aws_kms_key.backup[0].arn
}

resource "aws_kms_key" "backup" {
  count = var.backup_kms_key_arn == null ? 1 : 0

  description             = "Brain backups in s3://${var.backup_bucket_name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # The account's IAM policies decide who uses the key (AWS's default key policy).
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountIAMPolicies"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = var.tags
}

resource "aws_s3_bucket" "backup" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is out of scope for this module; a second region is a disaster-recovery decision made (and paid for) per installation, outside the module.
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events; backup freshness is alerted on from the backup-age metrics (PrometheusRule), not from S3 notifications.
  bucket        = var.backup_bucket_name
  force_destroy = false
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "backup" {
  bucket = aws_s3_bucket.backup.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "backup" {
  bucket                  = aws_s3_bucket.backup.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "backup" {
  bucket = aws_s3_bucket.backup.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "backup" {
  bucket = aws_s3_bucket.backup.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "backup" {
  bucket = aws_s3_bucket.backup.id

  rule {
    id     = "backups"
    status = "Enabled"
    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
    noncurrent_version_expiration {
      noncurrent_days = var.backup_noncurrent_days
    }
    dynamic "expiration" {
      for_each = var.backup_expiration_days == null ? [] : [var.backup_expiration_days]
      content {
        days = expiration.value
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.backup]
}

resource "aws_s3_bucket_logging" "backup" {
  count = var.backup_access_log_bucket == null ? 0 : 1

  bucket        = aws_s3_bucket.backup.id
  target_bucket = var.backup_access_log_bucket
  target_prefix = "s3/${var.backup_bucket_name}/"
}

resource "aws_s3_bucket_policy" "backup" {
  bucket = aws_s3_bucket.backup.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.backup.arn, "${aws_s3_bucket.backup.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  depends_on = [aws_s3_bucket_public_access_block.backup]
}

# What the backup jobs need: attach it to the IAM role (IRSA, Pod Identity) or user whose
# credentials the pods use.
resource "aws_iam_policy" "backup" {
  name        = "${var.name}-${var.namespace}-backup"
  description = "Brain backups: read and write s3://${var.backup_bucket_name}"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource = [aws_s3_bucket.backup.arn]
      },
      {
        Sid      = "Objects"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = ["${aws_s3_bucket.backup.arn}/*"]
      },
      {
        Sid      = "Encryption"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = [local.kms_key_arn]
      },
    ]
  })
  tags = var.tags
}
