"""optax's own tests for optax.transforms, run against functional_optim (see README.md in this folder).

Each optax file is one test here; all of them run in one pytest subprocess with the substitution.
"""

import optax_suite_runner

optax_suite_results, test_optax_file, test_optax_substitution, test_optax_counts = (
    optax_suite_runner.entry_point(["transforms"]))
