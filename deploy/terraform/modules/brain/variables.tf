# ---- release ----

variable "name" {
  description = "Helm release name; also the prefix of the Secrets this module creates."
  type        = string
  default     = "brain"

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$", var.name))
    error_message = "name must be a DNS label of at most 32 characters (lowercase letters, digits, '-')."
  }
}

variable "namespace" {
  description = "Kubernetes namespace created for Brain (labelled for the restricted Pod Security Standard)."
  type        = string
  default     = "brain"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace)) && !contains(["default", "kube-system", "kube-public", "kube-node-lease"], var.namespace)
    error_message = "namespace must be a DNS label and not default or a kube-* system namespace."
  }
}

variable "chart_path" {
  description = "Path (or OCI/repository reference) of the Brain Helm chart; null means the chart in this repository, deploy/helm/brain."
  type        = string
  default     = null
}

variable "image_repository" {
  description = "Container image repository of the Brain service, without tag (e.g. ghcr.io/acme/brain)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._/-]*(:[0-9]+)?(/[a-z0-9._-]+)*$", var.image_repository)) && !strcontains(var.image_repository, "@")
    error_message = "image_repository must be a repository name without tag or digest."
  }
}

variable "image_tag" {
  description = "Image tag to deploy: an immutable version such as 0.1.0, never latest."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid tag other than latest."
  }
}

variable "extra_values" {
  description = "Additional Helm values documents (YAML strings), applied after the values this module sets."
  type        = list(string)
  default     = []
}

variable "helm_timeout_seconds" {
  description = "How long Helm waits for the release (migration Job, rollout) before rolling back."
  type        = number
  default     = 900

  validation {
    condition     = var.helm_timeout_seconds >= 60 && var.helm_timeout_seconds <= 3600
    error_message = "helm_timeout_seconds must be between 60 and 3600."
  }
}

variable "labels" {
  description = "Labels added to the namespace and the Secrets."
  type        = map(string)
  default     = {}
}

# ---- data stores ----

variable "postgresql_mode" {
  description = "cnpg: the chart runs PostgreSQL with CloudNativePG (operator required); external: use external_database_url."
  type        = string
  default     = "cnpg"

  validation {
    condition     = contains(["cnpg", "external"], var.postgresql_mode)
    error_message = "postgresql_mode must be cnpg or external."
  }
}

variable "external_database_url" {
  description = "PostgreSQL URL (postgresql://...) when postgresql_mode is external; stored in a Kubernetes Secret, never in Helm values."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.postgresql_mode != "external" || can(regex("^postgres(ql)?://", var.external_database_url))
    error_message = "external_database_url (postgresql://...) is required when postgresql_mode is external."
  }
}

variable "external_service_database_url" {
  description = "PostgreSQL URL of the service and the cleanup CronJob (user brain_service, or a member of it) when postgresql_mode is external; null: external_database_url, whose user (the owner that migrates) must then be a member of brain_service. Stored in a Kubernetes Secret, never in Helm values."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.external_service_database_url == null || can(regex("^postgres(ql)?://", var.external_service_database_url))
    error_message = "external_service_database_url must be a postgresql:// URL (or null)."
  }
}

variable "redis_mode" {
  description = "cluster: the chart runs a Redis Cluster StatefulSet; external: use external_redis_url."
  type        = string
  default     = "cluster"

  validation {
    condition     = contains(["cluster", "external"], var.redis_mode)
    error_message = "redis_mode must be cluster or external."
  }
}

variable "external_redis_url" {
  description = "Redis URL (redis:// or rediss://) when redis_mode is external; stored in a Kubernetes Secret, never in Helm values."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.redis_mode != "external" || can(regex("^rediss?://", var.external_redis_url))
    error_message = "external_redis_url (redis:// or rediss://) is required when redis_mode is external."
  }
}

# ---- backups ----

variable "backup_bucket_name" {
  description = "Name of the S3 bucket created for PostgreSQL (Barman Cloud) and Redis backups; globally unique."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.backup_bucket_name)) && !strcontains(var.backup_bucket_name, "..")
    error_message = "backup_bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')."
  }
}

variable "backup_kms_key_arn" {
  description = "ARN of an existing KMS key for the backup bucket; null creates a dedicated key with rotation."
  type        = string
  default     = null

  validation {
    condition     = var.backup_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.backup_kms_key_arn))
    error_message = "backup_kms_key_arn must be a KMS key ARN."
  }
}

variable "backup_noncurrent_days" {
  description = "Days a replaced or deleted backup object is kept as a noncurrent version before it expires."
  type        = number
  default     = 30

  validation {
    condition     = var.backup_noncurrent_days >= 1
    error_message = "backup_noncurrent_days must be at least 1."
  }
}

variable "backup_expiration_days" {
  description = "Days after which current backup objects expire; null leaves deletion to the backup tools' retention policy (recommended: an expired WAL file breaks point-in-time recovery)."
  type        = number
  default     = null

  validation {
    condition     = var.backup_expiration_days == null || try(var.backup_expiration_days >= 7, false)
    error_message = "backup_expiration_days must be null or at least 7."
  }
}

variable "backup_access_log_bucket" {
  description = "Existing bucket that receives S3 server access logs of the backup bucket; null disables access logging."
  type        = string
  default     = null
}

variable "backup_credentials" {
  description = "Static S3 credentials for the backup jobs, stored in a Kubernetes Secret; null when the pods get AWS credentials otherwise (IRSA, EKS Pod Identity)."
  type = object({
    access_key_id     = string
    secret_access_key = string
  })
  default   = null
  sensitive = true
}

variable "tags" {
  description = "Tags added to every AWS resource."
  type        = map(string)
  default     = {}
}
