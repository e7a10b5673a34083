"""The Dockerfile builder: a pure parser (``parser``, ``shell``, ``stages``, ``metadata``,
``dockerignore``), the build context (``context``), COPY/ADD (``copying``) and the step cache
(``cache``). ``services.build`` runs the steps."""
