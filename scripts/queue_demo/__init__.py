"""The practical's queue demo: publishers push numbered messages, subscribers print them."""
