"""The measurement side: the ground-truth simulator, the quality metrics and the HTML report.

Nothing in the three stages depends on this package except the never-worse check's jitter
(:func:`fusedstab.measure.metrics.high_pass_jitter`, used by :mod:`fusedstab.analysis.verify`).
"""
