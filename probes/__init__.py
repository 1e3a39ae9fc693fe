"""Our own probes: DNS, TCP, TLS and HTTP checks of the test list, judged by the verdict engine.

Installed as ``censorwatch.probes``. Writes OONI-format measurements through the store.
"""
