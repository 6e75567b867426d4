# Sign-in for people at the web page: a Cognito user pool whose hosted page signs them in
# (authorization code with PKCE, from a public client), and the services told to accept its
# tokens. Created only when the page has an https URL: Cognito refuses other callback URLs.

locals {
  public_base_url = var.public_base_url != "" ? var.public_base_url : "${local.https ? "https" : "http"}://${aws_lb.main.dns_name}"
  # from the variables alone, so the count below is known when planning
  sign_in = var.public_base_url != "" ? startswith(var.public_base_url, "https://") : local.https
  # the roles shared/auth/principal.py knows, carried in the tokens' cognito:groups
  sign_in_groups = {
    member   = "Reads and changes the todos of their tenant."
    operator = "Also sees the operations page and every tenant's figures."
  }
  cognito_domain_prefix = var.cognito_domain_prefix != "" ? var.cognito_domain_prefix : "${local.name}-${data.aws_caller_identity.current.account_id}"
  oidc_issuer           = local.sign_in ? "https://cognito-idp.${var.region}.amazonaws.com/${aws_cognito_user_pool.people[0].id}" : null
  # the settings of todo_api and job_tracker (services.tf). The page sends the ID token, whose
  # aud is the client id; Cognito's access tokens carry no aud, so they are never accepted.
  # No CORS_ALLOWED_ORIGINS: the page is served by todo_api itself, on the one public origin
  oidc_environment = local.sign_in ? [
    { name = "OIDC_ISSUER", value = local.oidc_issuer },
    { name = "OIDC_AUDIENCE", value = aws_cognito_user_pool_client.web_page[0].id },
    # the client the page signs in as (authorization code with PKCE)
    { name = "OIDC_CLIENT_ID", value = aws_cognito_user_pool_client.web_page[0].id },
    { name = "OIDC_TENANT_CLAIM", value = "custom:tenant" },
    { name = "OIDC_ROLES_CLAIM", value = "cognito:groups" },
  ] : []
}

resource "aws_cognito_user_pool" "people" {
  count = local.sign_in ? 1 : 0

  name = "${local.name}-people"
  # people sign in with their e-mail address, which Cognito verifies
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]
  deletion_protection      = var.deletion_protection ? "ACTIVE" : "INACTIVE"
  mfa_configuration        = "OPTIONAL"

  software_token_mfa_configuration {
    enabled = true
  }

  # an operator creates each account with its tenant: a person who signed themselves up could
  # name any tenant, and so read its todos
  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  password_policy {
    minimum_length                   = 14
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 3
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  # the tenant whose todos the person sees (OIDC_TENANT_CLAIM); set when the account is made,
  # never changed (shared/auth/token_claims.py's pattern: 1 to 64 characters)
  schema {
    name                     = "tenant"
    attribute_data_type      = "String"
    mutable                  = false
    developer_only_attribute = false
    required                 = false

    string_attribute_constraints {
      min_length = 1
      max_length = 64
    }
  }
}

resource "aws_cognito_user_group" "role" {
  for_each = local.sign_in ? local.sign_in_groups : {}

  name         = each.key
  description  = each.value
  user_pool_id = aws_cognito_user_pool.people[0].id
}

# the web page: a public client (a page keeps no secret) that signs people in through the
# hosted page with the authorization code grant and PKCE, and nothing else
resource "aws_cognito_user_pool_client" "web_page" {
  count = local.sign_in ? 1 : 0

  name                                 = "${local.name}-web-page"
  user_pool_id                         = aws_cognito_user_pool.people[0].id
  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email", "profile"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = ["${local.public_base_url}/"]
  logout_urls                          = ["${local.public_base_url}/"]
  # no password, SRP or admin sign-in through the API: only the hosted page, then refreshes
  explicit_auth_flows           = ["ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors = "ENABLED"
  enable_token_revocation       = true
  # the ID token carries the tenant; the page may never write it
  read_attributes  = ["email", "email_verified", "name", "custom:tenant"]
  write_attributes = ["email", "name"]

  access_token_validity  = 60
  id_token_validity      = 60
  refresh_token_validity = 12

  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "hours"
  }
}

resource "aws_cognito_user_pool_domain" "sign_in" {
  count = local.sign_in ? 1 : 0

  domain       = local.cognito_domain_prefix
  user_pool_id = aws_cognito_user_pool.people[0].id
}
