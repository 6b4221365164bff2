"""Test configuration: hypothesis profiles and import paths."""

import os
import sys

from hypothesis import HealthCheck, Phase, settings

sys.path.insert(0, os.path.dirname(__file__))  # makes `import parity` work in every test file

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# "ci": bounded and derandomized, so CI is fast and reproducible.
settings.register_profile("ci", max_examples=8, derandomize=True, print_blob=True, **_COMMON)
# "dev": more examples, still reproducible.
settings.register_profile("dev", max_examples=30, derandomize=True, **_COMMON)
# "long": random exploration for local soak runs.
settings.register_profile("long", max_examples=300, **_COMMON)
# "triage": as "ci", without shrinking: a quick list of what fails (shrinking a slow test can take minutes).
settings.register_profile("triage", settings.get_profile("ci"), phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
