"""Corral's security benchmark: a corpus of hostile packs and requests, each with the
outcome that counts as containing it, run against a fresh Host (see ``run``)."""

from .run import main, run_suite

__all__ = ["main", "run_suite"]
