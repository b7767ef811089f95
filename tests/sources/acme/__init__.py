"""Acme MDM: a skeleton third source, written the way a new vendor package is.

It lives in the tests and touches no file outside this folder: a test registers
:data:`SOURCE` with :func:`monitor.sources.registry.register`, and from then on the
config accepts ``kind: acme``, rule files may name its fields and the daemon sweeps it.
A real vendor would sit in ``monitor/sources/acme/`` and be listed in
``registry.BUILTIN`` instead.
"""

from tests.sources.acme.source import SOURCE

__all__ = ["SOURCE"]
