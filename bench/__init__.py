"""Benchmarks: ``./course bench [NAME ...]`` (``python -m bench``) prints the figures the course quotes.

Each ``bench/<name>.py`` exposes ``main()``. They measure, they do not assert: slow or machine-
dependent figures live here rather than in the unit tests.
"""
