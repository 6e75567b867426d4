"""Events between services: the outbox and its relay, the publisher, the SQS consumer, the inbox
that makes a redelivery harmless, claim checks, AWS batch limits, and the clients of the
configured transport (`transports`).
"""
