"""Building packs: where the guest SDKs and compilers are (sdk), ``corral build`` (build) and
``corral new`` (scaffold)."""
