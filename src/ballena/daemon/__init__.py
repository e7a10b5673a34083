"""The composition root: configuration, wiring of stores and services, start-up recovery."""
