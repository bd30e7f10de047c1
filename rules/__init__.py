"""Lint rules, one per file, installed as `costlens.rules`.

Rules import the core (`costlens`), never the other way round.
"""
