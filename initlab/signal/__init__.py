"""The deep signal: a scenario, the network pushed forward and backward (``propagate``), its per-layer
statistics, the verdicts, the input-output Jacobian's spectra and LSUV.
"""
