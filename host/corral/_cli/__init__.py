"""The ``corral`` command line: the parser and core commands (main), JSON in and out (output),
``sync``, ``bench`` and ``reference``; ``serve``/``keys`` and ``new`` live beside their features."""
