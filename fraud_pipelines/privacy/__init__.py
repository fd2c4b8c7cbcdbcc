"""Privacy by design: card numbers become keyed tokens at the door (`tokens`), and a card can be
erased from every store (`erasure`). Plain code: the REST service and the CLI use it without Dagster."""
