"""Benchmarks of Simple Log Service against the original design and DynamoDB's limits.

``make bench`` (``python -m bench``) runs them all and ends with one ``BENCH {json}``
line; ``python -m bench --quick`` runs tiny sizes (``tests/test_bench.py``).
Nothing here times a test: figures are counted at the botocore level, computed
from item sizes, or timed in fresh processes, and printed.
"""
