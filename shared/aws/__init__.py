"""AWS as the services use it: the one place clients are made, the blob store port with its S3
adapter, and the practical's demo queues.
"""
