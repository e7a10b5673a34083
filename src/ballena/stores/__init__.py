"""Durable state on disk: blobs, snapshots, the metadata database, container records."""
