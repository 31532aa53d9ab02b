"""The contracts: plugin interfaces, settings, errors and the component registry.

Nothing here names a concrete model, loss or dataset; every layer above builds on it.
"""
