"""``make sam-local``: the functions under the real SAM CLI and the Lambda runtime interface, in
Docker, against moto and the HitKey emulator running in a container on a Docker network of the
run's own. See docs/local.md, "sam local".

* :mod:`local.samlocal.docker` - find a Docker daemon, or start one (and stop only that one).
* :mod:`local.samlocal.image` - the Lambda base image: the public one if present, else a
  stand-in built here (debootstrap + a CPython 3.12 + awslambdaric).
* :mod:`local.samlocal.stack` - the network, the moto + emulator container, the resources,
  ``env.json``, ``sam build`` and ``sam local start-api``/``invoke``.
"""
