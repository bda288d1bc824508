# Example root module: Brain with in-cluster PostgreSQL (CloudNativePG) and Redis Cluster,
# backups to a new S3 bucket. The cluster comes from a kubeconfig context.

provider "aws" {
  region = var.aws_region
}

provider "kubernetes" {
  config_path    = var.kubeconfig_path
  config_context = var.kube_context
}

provider "helm" {
  kubernetes = {
    config_path    = var.kubeconfig_path
    config_context = var.kube_context
  }
}

module "brain" {
  source = "../../modules/brain"

  name               = "brain"
  namespace          = var.namespace
  image_repository   = var.image_repository
  image_tag          = var.image_tag
  postgresql_mode    = "cnpg"
  redis_mode         = "cluster"
  backup_bucket_name = var.backup_bucket_name
  labels             = { "app.kubernetes.io/instance" = "brain-${var.environment}" }
  tags               = { Service = "brain", Environment = var.environment }
}
