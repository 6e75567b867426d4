"""What the services agree on: the event catalogue and its envelope (with upcasters for older
versions), trace context and task ids as events carry them, the messaging topology, response
bodies served by more than one service, and the calendar file format.

Nothing here does I/O: every other layer may import it.
"""
