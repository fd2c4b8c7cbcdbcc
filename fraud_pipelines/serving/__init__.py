"""Online inference: the REST service, the per-card online state it reads, and the assets that write it."""
