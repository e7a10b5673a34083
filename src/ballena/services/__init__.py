"""Use cases, one module per area. Each service takes narrow dependencies by keyword."""
