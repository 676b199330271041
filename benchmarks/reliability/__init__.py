"""Corral's reliability benchmark: ``kill -9`` at random points of every write path,
damaged and swapped module files, a full disk and two servers on one data dir, each
checked against what the client saw acknowledged (see ``run`` and docs/reliability.md).

This file imports nothing: the writer child (``_writer``) starts without the suite."""
