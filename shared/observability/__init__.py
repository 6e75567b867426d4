"""Seeing what the services do: Prometheus metrics, OpenTelemetry traces, and log lines that
name the request, job, event and message they are about.
"""
