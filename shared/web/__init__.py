"""HTTP plumbing every service shares: JSON errors, body parsing, streamed responses cut short,
the health route, and the OpenAPI document built from the route table.
"""
