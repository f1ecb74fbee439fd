"""``webduo bench``: load both engines with locust on loopback and report, with plots, how they differ.

Locust monkey-patches the standard library with gevent when it is imported, so nothing here
imports it: :mod:`webduo.bench.locustfile` is only ever loaded by a ``locust`` subprocess.
"""
