"""Who is asking: the principal every request resolves to (tenant, subject, roles), API keys for
programs and OIDC bearer tokens for people, and what each role may do.

With AUTH_MODE=none every request is the anonymous principal of the one anonymous tenant, which
keeps the practical's contract; AUTH_MODE=required asks every request for credentials.
"""
