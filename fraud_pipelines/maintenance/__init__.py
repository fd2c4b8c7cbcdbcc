"""Delta maintenance: compaction, checkpoints and a vacuum that keeps every pinned version."""
