"""Numerics every layer above relies on: Gaussian expectations (one quadrature rule) and overflow-safe
statistics of big tensors. numpy only; imports nothing else of initlab.
"""
