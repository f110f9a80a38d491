"""The one status convention of the kernels: every driver returns one of these codes first."""

OK = 0
NON_FINITE = 1  # a parameter, a pre-activation or a logit was NaN or inf
