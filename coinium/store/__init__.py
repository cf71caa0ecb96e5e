"""LMDB storage: one environment per datadir, named databases, atomic writes, a growing map."""
