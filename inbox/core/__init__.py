"""The conversation core: customers, identity and merge, threads, ingest, outbox, events, files, phones."""
