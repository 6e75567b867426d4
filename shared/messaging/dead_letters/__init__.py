"""Dead letters: what each DLQ holds, grouped by why it failed, moved back at a rate or
discarded with a reason. The operations page and `python -m scripts.replay dead-letters` both
run this package."""
