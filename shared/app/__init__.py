"""A service's app and process: the resources it opens and closes (`resources`), its typed app
keys, readiness, the metrics listener, and how a process serves it (`serve`, `heap`).

The top layer of `shared`: it wires the layers below into a running service.
"""
