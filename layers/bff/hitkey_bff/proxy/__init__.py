"""The API proxy (docs/proxy.md): ``/api/{name}/...`` forwarded to a configured upstream with the
session's access token.

* :mod:`~hitkey_bff.proxy.upstreams` - the upstream table, ``API_UPSTREAMS``, parsed and frozen;
* :mod:`~hitkey_bff.proxy.paths` - the request read from the event, the path rules, the URL;
* :mod:`~hitkey_bff.proxy.headers` (with :mod:`~hitkey_bff.proxy.header_rules`) - what is
  forwarded each way;
* :mod:`~hitkey_bff.proxy.forward` - the call and the answer;
* :mod:`~hitkey_bff.proxy.limits` - the sizes and times.
"""
