"""Ballena: a Docker-compatible container engine written in Python.

Read the package top-down in the order its layers depend on each other: ``errors`` -> ``pkg``
-> ``core`` -> ``stores``/``runtime``/``shim``/``network`` -> ``services`` -> ``api`` ->
``daemon``. ``client`` and ``cli`` are the other side of the wire and import none of it.
"""

__version__ = "0.1.0"
