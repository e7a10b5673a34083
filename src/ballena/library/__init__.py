"""The offline image library: official-image equivalents built from Debian packages.

A classroom without Docker Hub still has a Debian mirror. From it ``debian.py`` makes
``debian:bookworm`` and ``debian:bookworm-slim`` (debootstrap, then what the official images
remove), and every folder under ``recipes/`` is one image built ``FROM debian:bookworm-slim``
by our own builder: a Dockerfile, the entrypoint scripts honouring the Docker Hub image's
documented contract, and a ``recipe.toml`` saying which Debian package names its tags.
``catalog.py`` reads those folders and decides which tags a recipe can honestly produce.
The service that builds them is ``services/library.py``.
"""
