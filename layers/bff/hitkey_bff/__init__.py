"""hitkey_bff - the shared package of hitkey-bff's Lambda functions.

Dependencies point one way: the functions call :mod:`hitkey_bff.flows`, which uses the store,
crypto, HitKey client and cookie helpers, which read :mod:`hitkey_bff.config`.
"""

__version__ = "0.1.0"
