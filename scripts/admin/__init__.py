"""Operator administration: `python -m scripts.admin keys issue|list|revoke` manages the API keys
that programs present to todo_api (`make admin ARGS=...`)."""
