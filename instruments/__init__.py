"""hil lab drivers: pure command builders + pure reply parsers + thin instrument classes.

Note: the import name ``instruments`` is also used by the unrelated InstrumentKit package.
``hil`` checks ``instruments.__hil__`` and fails with a clear message if the wrong one is found.
"""
__hil__ = True
