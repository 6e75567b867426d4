# Calendar files (calendars/) and large CalendarRequested snapshots (snapshots/): private,
# encrypted, TLS only; calendars expire after var.result_expiry_days, snapshots after
# var.snapshot_expiry_days.

resource "aws_s3_bucket" "results" {
  #checkov:skip=CKV_AWS_18:objects are derived (rebuilt from the event store) and expire in days; access is through two task roles only
  #checkov:skip=CKV_AWS_144:cross-region replication of files that expire in days and can be rebuilt is cost without benefit
  #checkov:skip=CKV2_AWS_62:nothing reacts to bucket events; the pipeline's events go through SNS
  bucket = local.bucket_name
}

resource "aws_s3_bucket_public_access_block" "results" {
  bucket                  = aws_s3_bucket.results.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "results" {
  bucket = aws_s3_bucket.results.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "results" {
  bucket = aws_s3_bucket.results.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "results" {
  bucket = aws_s3_bucket.results.id

  versioning_configuration {
    status = "Enabled"
  }
}

# Where rules overlap S3 applies the shortest expiration, so each prefix has its own rule and
# none covers the whole bucket. The task roles write nothing outside these two prefixes.
resource "aws_s3_bucket_lifecycle_configuration" "results" {
  bucket = aws_s3_bucket.results.id

  rule {
    id     = "expire-calendars"
    status = "Enabled"

    filter {
      prefix = "calendars/"
    }

    expiration {
      days = var.result_expiry_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # a claim-checked CalendarRequested may sit in a DLQ and be redriven; its snapshot must last
  rule {
    id     = "expire-snapshots"
    status = "Enabled"

    filter {
      prefix = "snapshots/"
    }

    expiration {
      days = var.snapshot_expiry_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # the whole bucket, with no expiration: only a failed upload's parts are cleared away
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.results]
}

data "aws_iam_policy_document" "results_tls_only" {
  statement {
    sid       = "deny-insecure-transport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.results.arn, "${aws_s3_bucket.results.arn}/*"]

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

resource "aws_s3_bucket_policy" "results" {
  bucket = aws_s3_bucket.results.id
  policy = data.aws_iam_policy_document.results_tls_only.json

  depends_on = [aws_s3_bucket_public_access_block.results]
}
