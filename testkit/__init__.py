"""What the tests and the benches share, free of ``hitkey_bff`` imports (each bench and test builds
its own ``Deps``): the template's routes and their functions (:mod:`testkit.functions`), a browser
that calls them as API Gateway would (:mod:`testkit.browser`), a botocore response stub
(:mod:`testkit.aws`), a clock that moves only when told (:mod:`testkit.clock`) and the stop of a
process group as a user presses Ctrl-C (:mod:`testkit.processes`).

A package of its own, not under ``tests/``: the benches import it too, and a bench must not depend
on the test suite's fixtures or conftest.
"""
