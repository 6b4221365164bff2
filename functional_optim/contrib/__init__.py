"""Contributed optimizers, mirroring ``optax.contrib`` name for name.

Algorithms from recent papers that are not (yet) part of the core package: Muon, GaLore, AdEMAMix,
schedule-free methods, ADOPT, Prodigy, SAM, Sophia, COCOB, D-Adaptation, DoG, MADGRAD, Mechanic,
MoMo, differential privacy and learning-rate reduction on plateau. Every public name, argument name
and default matches ``optax.contrib``.
"""

# pylint: disable=g-importing-member

# part 1: muon, galore, ademamix
from ._ademamix import ademamix
from ._ademamix import scale_by_ademamix
from ._ademamix import scale_by_simplified_ademamix
from ._ademamix import ScaleByAdemamixState
from ._ademamix import ScaleBySimplifiedAdEMAMixState
from ._ademamix import simplified_ademamix
from ._galore import galore
from ._galore import GaLoreDimensionNumbers
from ._galore import GaLoreState
from ._galore import scale_by_galore
from ._muon import muon
from ._muon import MuonDimensionNumbers
from ._muon import MuonState
from ._muon import scale_by_muon

# part 2: schedule_free, adopt, prodigy, sam, sophia, acprop
from ._acprop import acprop
from ._acprop import scale_by_acprop
from ._adopt import adopt
from ._adopt import scale_by_adopt
from ._prodigy import prodigy
from ._prodigy import ProdigyState
from ._sam import normalize
from ._sam import NormalizeState
from ._sam import sam
from ._sam import SAMState
from ._schedule_free import schedule_free
from ._schedule_free import schedule_free_adamw
from ._schedule_free import schedule_free_eval_params
from ._schedule_free import schedule_free_sgd
from ._schedule_free import ScheduleFreeState
from ._sophia import hutchinson_estimator_diag_hessian
from ._sophia import HutchinsonState
from ._sophia import sophia
from ._sophia import SophiaState

# part 3: cocob, complex_valued, dadapt_adamw, dog, madgrad, mechanic, momo, privacy, reduce_on_plateau
from ._cocob import cocob
from ._cocob import COCOBState
from ._cocob import scale_by_cocob
from ._complex_valued import split_real_and_imaginary
from ._complex_valued import SplitRealAndImaginaryState
from ._dadapt_adamw import dadapt_adamw
from ._dadapt_adamw import DAdaptAdamWState
from ._dog import dog
from ._dog import DoGState
from ._dog import dowg
from ._dog import DoWGState
from ._madgrad import madgrad
from ._madgrad import MadgradState
from ._madgrad import scale_by_madgrad
from ._mechanic import MechanicState
from ._mechanic import mechanize
from ._momo import momo
from ._momo import momo_adam
from ._momo import MomoAdamState
from ._momo import MomoState
from ._privacy import differentially_private_aggregate
from ._privacy import DifferentiallyPrivateAggregateState
from ._privacy import dpsgd
from ._reduce_on_plateau import reduce_on_plateau
from ._reduce_on_plateau import ReduceLROnPlateauState
