"""The access table's parts: the route catalogue, how each case is filled in, how answers
are read."""
