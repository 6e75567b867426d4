"""`python -m embedded`: the whole system in one process (embedded/run.py)."""

from embedded.run import main

main()
