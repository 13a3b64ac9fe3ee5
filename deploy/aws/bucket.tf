# das-evidence: the evidence bucket, its KMS keys and the collector's IAM role.
#
# One bucket per archive family, created with Object Lock (it cannot be turned
# on later without AWS support), versioning, a COMPLIANCE default retention,
# SSE-KMS with a customer managed key, all public access blocked and a policy
# that refuses requests without TLS: exactly what `evidence store check` checks.
# Two asymmetric KMS keys sign: ECDSA P-256 for entries (signing.key) and
# Ed25519 for checkpoints (signing.note_key). The collector's role gets
# iam-policy.json, rendered with templatefile() (its ${...} are the template's
# variables, listed in local.policy_vars below).
#
#   terraform init && terraform apply -var bucket_name=acme-evidence ...
#
# COMPLIANCE retention cannot be shortened or removed by anyone, including the
# root user, until it expires: check retention_days before the first apply.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source = "hashicorp/aws"
      # ECC_NIST_EDWARDS25519 KMS keys need a provider built on the AWS SDK of
      # November 2025 or later.
      version = ">= 6.21"
    }
  }
}

variable "bucket_name" {
  description = "Name of the evidence bucket (store.uri = s3://<bucket_name>/<prefix>)."
  type        = string
}

variable "prefix" {
  description = "Key prefix of this archive inside the bucket, without slashes at either end."
  type        = string
  default     = "prod"
  validation {
    condition     = length(var.prefix) > 0 && !startswith(var.prefix, "/") && !endswith(var.prefix, "/")
    error_message = "prefix must be non-empty, without a leading or trailing slash."
  }
}

variable "retention_days" {
  description = "Default Object Lock COMPLIANCE retention in days (2557 = 7 years); at least store.retention_days."
  type        = number
  default     = 2557
  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 36500
    error_message = "retention_days must be between 1 and 36500."
  }
}

variable "collector_role_name" {
  description = "Name of the IAM role the collector runs as."
  type        = string
  default     = "das-evidence-collector"
}

variable "eks_oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider (IRSA), e.g. arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE."
  type        = string
}

variable "k8s_namespace" {
  description = "Namespace of the CronJob's service account."
  type        = string
  default     = "evidence"
}

variable "k8s_service_account" {
  description = "Name of the CronJob's service account."
  type        = string
  default     = "evidence-collector"
}

variable "dbt_artifacts_bucket" {
  description = "Bucket the dbt job copies its target/ to, for [[dbt]] target_dir = \"s3://...\"; empty: no dbt read access."
  type        = string
  default     = ""
}

variable "dbt_artifacts_prefix" {
  description = "Key prefix of the dbt artifacts in dbt_artifacts_bucket."
  type        = string
  default     = "dbt"
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = { application = "das-evidence" }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${var.bucket_name}"
  # The OIDC provider's host path: the ARN after "oidc-provider/".
  oidc_issuer = element(split("oidc-provider/", var.eks_oidc_provider_arn), 1)
  policy_vars = {
    partition      = data.aws_partition.current.partition
    region         = data.aws_region.current.region
    account_id     = data.aws_caller_identity.current.account_id
    bucket         = var.bucket_name
    prefix         = var.prefix
    signing_key_id = aws_kms_key.signing.key_id
    note_key_id    = aws_kms_key.notes.key_id
    data_key_id    = aws_kms_key.data.key_id
  }
}

# -- KMS keys -------------------------------------------------------------------
# No key policy is given, so each key gets the default one: the account's IAM
# policies decide. Restrict key administration further with your own key policy
# or an SCP; the collector role's policy denies itself deletion of these keys.

resource "aws_kms_key" "data" {
  description             = "das-evidence: SSE-KMS for the evidence bucket"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  tags                    = var.tags
  # Deleting this key makes every evidence object unreadable.
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "data" {
  name          = "alias/evidence-data"
  target_key_id = aws_kms_key.data.key_id
}

resource "aws_kms_key" "signing" {
  description              = "das-evidence: ECDSA P-256 signing key for log entries (signing.key)"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = "ECC_NIST_P256"
  deletion_window_in_days  = 30
  tags                     = var.tags
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "signing" {
  name          = "alias/evidence-dsse"
  target_key_id = aws_kms_key.signing.key_id
}

resource "aws_kms_key" "notes" {
  description              = "das-evidence: Ed25519 signing key for checkpoints (signing.note_key)"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = "ECC_NIST_EDWARDS25519"
  deletion_window_in_days  = 30
  tags                     = var.tags
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "notes" {
  name          = "alias/evidence-notes"
  target_key_id = aws_kms_key.notes.key_id
}

# -- the bucket -------------------------------------------------------------------

resource "aws_s3_bucket" "evidence" {
  bucket              = var.bucket_name
  object_lock_enabled = true
  force_destroy       = false
  tags                = var.tags
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.retention_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.evidence]
}

resource "aws_s3_bucket_server_side_encryption_configuration" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "evidence" {
  bucket                  = aws_s3_bucket.evidence.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

data "aws_iam_policy_document" "bucket" {
  # The statement `evidence store check` looks for (bucket_check.tls_deny_statement).
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "evidence" {
  bucket     = aws_s3_bucket.evidence.id
  policy     = data.aws_iam_policy_document.bucket.json
  depends_on = [aws_s3_bucket_public_access_block.evidence]
}

# -- the collector's role -----------------------------------------------------------

data "aws_iam_policy_document" "assume_from_service_account" {
  statement {
    sid     = "AssumeFromEvidenceServiceAccount"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.eks_oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.k8s_namespace}:${var.k8s_service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "collector" {
  name                 = var.collector_role_name
  description          = "das-evidence collector: write-once evidence, sign with its KMS keys"
  assume_role_policy   = data.aws_iam_policy_document.assume_from_service_account.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_policy" "collector" {
  name        = "${var.collector_role_name}-evidence"
  description = "das-evidence collector (deploy/aws/iam-policy.json)"
  policy      = templatefile("${path.module}/iam-policy.json", local.policy_vars)
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "collector" {
  role       = aws_iam_role.collector.name
  policy_arn = aws_iam_policy.collector.arn
}

# Read-only access to dbt artifacts in S3, only when dbt_artifacts_bucket is set.
# s3:ListBucket lets a missing optional artifact answer 404 instead of 403.
data "aws_iam_policy_document" "dbt_artifacts" {
  statement {
    sid       = "ReadDbtArtifacts"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.dbt_artifacts_bucket}/${var.dbt_artifacts_prefix}/*"]
  }
  statement {
    sid       = "ListDbtArtifacts"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.dbt_artifacts_bucket}"]
  }
}

resource "aws_iam_role_policy" "dbt_artifacts" {
  count  = var.dbt_artifacts_bucket == "" ? 0 : 1
  name   = "read-dbt-artifacts"
  role   = aws_iam_role.collector.id
  policy = data.aws_iam_policy_document.dbt_artifacts.json
}

# -- outputs: the values evidence.toml and the CronJob need ---------------------------

output "store_uri" {
  value = "s3://${aws_s3_bucket.evidence.bucket}/${var.prefix}"
}

output "signing_key" {
  value = "kms:${aws_kms_alias.signing.name}"
}

output "note_key" {
  value = "kms:${aws_kms_alias.notes.name}"
}

output "collector_role_arn" {
  description = "Annotate the CronJob's service account with it (eks.amazonaws.com/role-arn)."
  value       = aws_iam_role.collector.arn
}
