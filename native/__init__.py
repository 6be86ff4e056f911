"""Shoal's scheduling kernels: arrays in, arrays out; imports nothing of Shoal.

Use `shoal.native.kernels` (the dispatcher: Numba, Cython or the NumPy reference twin);
`layout` holds the column, reason-code and hash conventions, `profile.ScoringProfile` the
resource-scoring settings. See README.md in this folder.
"""
