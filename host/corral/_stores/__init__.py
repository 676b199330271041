"""Where durable state lives: the storage seam (LMDB in the data dir by default)."""
