"""The Dockerfile builder: a pure parser, the instructions' semantics, and the executor."""
