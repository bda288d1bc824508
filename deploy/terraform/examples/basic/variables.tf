variable "aws_region" {
  description = "AWS region of the backup bucket (ideally the cluster's region)."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like eu-west-1."
  }
}

variable "kubeconfig_path" {
  description = "Path of the kubeconfig file used by the kubernetes and helm providers."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "kubeconfig context of the target cluster."
  type        = string
}

variable "environment" {
  description = "Environment name, used in labels and tags (e.g. staging, production)."
  type        = string
  default     = "staging"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.environment))
    error_message = "environment must be a short lowercase name."
  }
}

variable "namespace" {
  description = "Namespace to create for Brain."
  type        = string
  default     = "brain"
}

variable "image_repository" {
  description = "Registry and repository of the Brain image built from the repository's Dockerfile."
  type        = string
}

variable "image_tag" {
  description = "Immutable tag of the Brain image (never latest)."
  type        = string
}

variable "backup_bucket_name" {
  description = "Globally unique name for the new backup bucket."
  type        = string
}
