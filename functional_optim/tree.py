"""Pytree utilities under the names of `optax.tree` (`add`, `get`, `norm`, ...).

The same functions as `functional_optim.tree_utils`, without the `tree_` prefix.
"""

from .tree_utils._casting import tree_cast as cast
from .tree_utils._casting import tree_cast_like as cast_like
from .tree_utils._casting import tree_dtype as dtype
from .tree_utils._random import tree_random_like as random_like
from .tree_utils._random import tree_split_key_like as split_key_like
from .tree_utils._random import tree_unwrap_random_key_data as unwrap_random_key_data
from .tree_utils._state_utils import tree_get as get
from .tree_utils._state_utils import tree_get_all_with_path as get_all_with_path
from .tree_utils._state_utils import tree_map_params as map_params
from .tree_utils._state_utils import tree_set as set  # noqa: A004 (optax's name)
from .tree_utils._tree_math import tree_add as add
from .tree_utils._tree_math import tree_add_scale as add_scale
from .tree_utils._tree_math import tree_allclose as allclose
from .tree_utils._tree_math import tree_batch_shape as batch_shape
from .tree_utils._tree_math import tree_bias_correction as bias_correction
from .tree_utils._tree_math import tree_clip as clip
from .tree_utils._tree_math import tree_conj as conj
from .tree_utils._tree_math import tree_div as div
from .tree_utils._tree_math import tree_full_like as full_like
from .tree_utils._tree_math import tree_max as max  # noqa: A004 (optax's name)
from .tree_utils._tree_math import tree_min as min  # noqa: A004 (optax's name)
from .tree_utils._tree_math import tree_mul as mul
from .tree_utils._tree_math import tree_norm as norm
from .tree_utils._tree_math import tree_ones_like as ones_like
from .tree_utils._tree_math import tree_real as real
from .tree_utils._tree_math import tree_scale as scale
from .tree_utils._tree_math import tree_size as size
from .tree_utils._tree_math import tree_sub as sub
from .tree_utils._tree_math import tree_sum as sum  # noqa: A004 (optax's name)
from .tree_utils._tree_math import tree_update_infinity_moment as update_infinity_moment
from .tree_utils._tree_math import tree_update_moment as update_moment
from .tree_utils._tree_math import tree_update_moment_per_elem_norm as update_moment_per_elem_norm
from .tree_utils._tree_math import tree_vdot as vdot
from .tree_utils._tree_math import tree_where as where
from .tree_utils._tree_math import tree_zeros_like as zeros_like
