"""hitkey_bff - the shared package of hitkey-bff's Lambda functions.

Dependencies point one way: ``functions/<route>/app.py`` imports the handler of
:mod:`hitkey_bff.routes` ``.<route>`` (a flow and its declared policy, made a handler by
:mod:`hitkey_bff.route`); the flows use :mod:`~hitkey_bff.sessions` (the session lifecycle),
:mod:`~hitkey_bff.refresh` (the hub of a refresh: it asks the store, the vault, the HitKey
client and the budgets, each answering back), all handed in as one :class:`hitkey_bff.deps.Deps`; at
the bottom are :mod:`~hitkey_bff.config`, :mod:`~hitkey_bff.errors` and :mod:`~hitkey_bff.clock`.

Third-party: ``aws-lambda-powertools`` (Logger, Metrics) and ``botocore`` (AWS, provided by the
Lambda runtime) everywhere; ``httpx`` only where HitKey is called and ``cryptography`` only where
tokens are sealed or opened (callback, userinfo, refresh). boto3 is never imported.
"""

__version__ = "0.1.0"
"""The one place the version is written (pyproject.toml reads it)."""
