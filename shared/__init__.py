"""The library every service stands on, in layers (each package imports only those below it;
`make check` enforces the order):

- `app`: a service's app and process
- `auth`: who is asking (principals, API keys, OIDC tokens)
- `messaging`: outbox, relay, publisher, consumer, inbox, transports
- `eventstore` | `aws`: the event log and its database | AWS clients and the blob store
- `observability`: metrics, traces, logs
- `web`: HTTP plumbing
- `contracts`: events, envelope, topology, response bodies, the calendar format
- `settings`, `clock`, `outages`, `deadline`, `retry`: utilities with no dependencies here
"""
