"""The bench's locust users, for running locust by hand against a server already up::

    locust -f bench/locustfile.py --host http://127.0.0.1:8002 MixedUser

They live in :mod:`webduo.bench.locustfile` so ``webduo bench`` finds them in an installed
package too; ``webduo bench`` is the bounded, reported way to run them.
"""

from webduo.bench.locustfile import CpuUser, HelloProbeUser, IoUser, MixedUser


__all__ = ["CpuUser", "HelloProbeUser", "IoUser", "MixedUser"]
