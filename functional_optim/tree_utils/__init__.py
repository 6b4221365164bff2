"""Pytree utilities under the names of `optax.tree_utils` (`tree_add`, `tree_get`, ...).

The same functions are exported without the prefix as `functional_optim.tree`.
"""

from ._casting import tree_cast
from ._casting import tree_cast_like
from ._casting import tree_dtype
from ._random import tree_random_like
from ._random import tree_split_key_like
from ._random import tree_unwrap_random_key_data
from ._state_utils import NamedTupleKey
from ._state_utils import tree_get
from ._state_utils import tree_get_all_with_path
from ._state_utils import tree_map_params
from ._state_utils import tree_set
from ._tree_math import tree_add
from ._tree_math import tree_add_scale
from ._tree_math import tree_allclose
from ._tree_math import tree_batch_shape
from ._tree_math import tree_bias_correction
from ._tree_math import tree_clip
from ._tree_math import tree_conj
from ._tree_math import tree_div
from ._tree_math import tree_full_like
from ._tree_math import tree_max
from ._tree_math import tree_min
from ._tree_math import tree_mul
from ._tree_math import tree_norm
from ._tree_math import tree_ones_like
from ._tree_math import tree_real
from ._tree_math import tree_scale
from ._tree_math import tree_size
from ._tree_math import tree_sub
from ._tree_math import tree_sum
from ._tree_math import tree_update_infinity_moment
from ._tree_math import tree_update_moment
from ._tree_math import tree_update_moment_per_elem_norm
from ._tree_math import tree_vdot
from ._tree_math import tree_where
from ._tree_math import tree_zeros_like
