"""Side-by-side speed comparisons of fastnn against the NumPy reference and what users would pick instead.

A leaf of the package: nothing in fastnn imports it, and its contenders import their
libraries (PyTorch, scikit-learn) only when they run. ``fastnn bench`` and
``python -m fastnn.benchmarks`` run it; the asv suite and the tests use the same inputs
and contenders.
"""
