# Namespace, Secrets and the Helm release of Brain. The backup bucket is in backup.tf.

locals {
  chart  = coalesce(var.chart_path, "${path.module}/../../../helm/brain")
  labels = merge(var.labels, { "app.kubernetes.io/part-of" = "brain", "app.kubernetes.io/managed-by" = "terraform" })

  # The service's own database URL (user brain_service), when the owner's cannot serve it too.
  service_database_url = var.postgresql_mode == "external" && var.external_service_database_url != null
  external_urls = merge(
    var.postgresql_mode == "external" ? { database-url = var.external_database_url } : {},
    local.service_database_url ? { database-service-url = var.external_service_database_url } : {},
    var.redis_mode == "external" ? { redis-url = var.external_redis_url } : {},
  )
  external_secret = length(local.external_urls) > 0 ? kubernetes_secret_v1.external[0].metadata[0].name : ""

  # The chart's values (deploy/helm/brain/values.yaml, values.schema.json); secrets travel by
  # Secret name and key only, never as values.
  values = {
    image = {
      repository = var.image_repository
      tag        = var.image_tag
    }
    secrets = {
      existingSecret   = kubernetes_secret_v1.admin.metadata[0].name
      adminTokenKey    = "admin-token"
      redisPasswordKey = "redis-password"
    }
    postgresql = {
      mode     = var.postgresql_mode
      # urlKey: the migrations (the owner); serviceUrlKey: the service and the cleanup CronJob,
      # which work as the role brain_service (empty: urlKey's URL, its user a member of it).
      external = {
        existingSecret = var.postgresql_mode == "external" ? local.external_secret : ""
        urlKey         = "database-url"
        serviceUrlKey  = local.service_database_url ? "database-service-url" : ""
      }
    }
    redis = {
      mode     = var.redis_mode
      external = { existingSecret = var.redis_mode == "external" ? local.external_secret : "", urlKey = "redis-url" }
    }
    backup = {
      destinationPath = "s3://${aws_s3_bucket.backup.bucket}"
      region          = aws_s3_bucket.backup.region
      # Without static credentials the pods use their IAM role (IRSA / EKS Pod Identity).
      inheritFromIAMRole = var.backup_credentials == null
      credentialsSecret  = var.backup_credentials == null ? "" : kubernetes_secret_v1.backup[0].metadata[0].name
      accessKeyIdKey     = "ACCESS_KEY_ID"
      secretAccessKeyKey = "ACCESS_SECRET_KEY"
    }
  }
}

resource "kubernetes_namespace_v1" "brain" {
  metadata {
    name = var.namespace
    labels = merge(local.labels, {
      "pod-security.kubernetes.io/enforce" = "restricted"
      "pod-security.kubernetes.io/audit"   = "restricted"
      "pod-security.kubernetes.io/warn"    = "restricted"
    })
  }
}

# The admin token the service accepts on /v1 (BRAIN_ADMIN_TOKEN) and the password of the in-chart
# Redis Cluster. Both are kept in the Terraform state: use an encrypted, access-controlled backend.
resource "random_password" "admin_token" {
  length  = 48
  special = false
}

resource "random_password" "redis" {
  length  = 48
  special = false
}

resource "kubernetes_secret_v1" "admin" {
  metadata {
    name      = "${var.name}-admin-token"
    namespace = kubernetes_namespace_v1.brain.metadata[0].name
    labels    = local.labels
  }
  data = {
    admin-token    = random_password.admin_token.result
    redis-password = random_password.redis.result
  }
  type = "Opaque"
}

resource "kubernetes_secret_v1" "external" {
  count = length(local.external_urls) > 0 ? 1 : 0

  metadata {
    name      = "${var.name}-external-stores"
    namespace = kubernetes_namespace_v1.brain.metadata[0].name
    labels    = local.labels
  }
  data = local.external_urls
  type = "Opaque"
}

resource "kubernetes_secret_v1" "backup" {
  count = var.backup_credentials == null ? 0 : 1

  metadata {
    name      = "${var.name}-backup-s3"
    namespace = kubernetes_namespace_v1.brain.metadata[0].name
    labels    = local.labels
  }
  data = {
    ACCESS_KEY_ID     = var.backup_credentials.access_key_id
    ACCESS_SECRET_KEY = var.backup_credentials.secret_access_key
  }
  type = "Opaque"
}

resource "helm_release" "brain" {
  name      = var.name
  namespace = kubernetes_namespace_v1.brain.metadata[0].name
  chart     = local.chart

  values = concat([yamlencode(local.values)], var.extra_values)

  atomic          = true
  cleanup_on_fail = true
  wait            = true
  timeout         = var.helm_timeout_seconds

  depends_on = [
    aws_s3_bucket_policy.backup,
    aws_s3_bucket_server_side_encryption_configuration.backup,
  ]
}
