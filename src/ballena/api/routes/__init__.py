"""One module per API area; each builds a Router from the services it needs."""
