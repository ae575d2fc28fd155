"""Selective-scan implementations behind `hf_copycot.mamba_scan` (numba CPU kernels, chunked torch)."""
