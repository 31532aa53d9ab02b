"""The engine: the training step, the loop, checkpoints, the run directory and recovery.

It trains what a preset names through the contracts in :mod:`ganzoo.core` and never
imports evaluation, benchmarking or the command line; callbacks bring those in from above.
"""
