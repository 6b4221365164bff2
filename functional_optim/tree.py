"""Pytree arithmetic, under the names of `optax.tree`."""

from ._tree import add
from ._tree import add_scale
from ._tree import allclose
from ._tree import batch_shape
from ._tree import bias_correction
from ._tree import cast
from ._tree import cast_like
from ._tree import clip
from ._tree import conj
from ._tree import div
from ._tree import full_like
from ._tree import max  # noqa: A004
from ._tree import min  # noqa: A004
from ._tree import mul
from ._tree import norm
from ._tree import ones_like
from ._tree import random_like
from ._tree import real
from ._tree import scale
from ._tree import size
from ._tree import split_key_like
from ._tree import sub
from ._tree import sum  # noqa: A004
from ._tree import update_infinity_moment
from ._tree import update_moment
from ._tree import update_moment_per_elem_norm
from ._tree import vdot
from ._tree import where
from ._tree import zeros_like
