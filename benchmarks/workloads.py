"""The parameter shape lists the suite steps over.

A workload is only shapes: every implementation allocates its own parameters and
gradients with these shapes (fp32), so the number and size of tensors is what
differs between workloads, and that is what separates the implementations.
"""

import dataclasses
import math

Shape = tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Workload:
  name: str
  shapes: tuple[Shape, ...]
  description: str

  @property
  def num_params(self) -> int:
    return sum(math.prod(s) for s in self.shapes)

  @property
  def num_tensors(self) -> int:
    return len(self.shapes)


def _batch_norm(channels: int) -> list[Shape]:
  return [(channels,), (channels,)]  # weight, bias (running stats are buffers, not parameters)


def resnet18_shapes(num_classes: int = 1000) -> list[Shape]:
  """torchvision's resnet18() parameters, in `model.parameters()` order (11,689,512 values)."""
  shapes: list[Shape] = [(64, 3, 7, 7), *_batch_norm(64)]
  in_channels = 64
  for stage, channels in enumerate((64, 128, 256, 512)):
    for block in range(2):
      block_in = in_channels if block == 0 else channels
      shapes += [(channels, block_in, 3, 3), *_batch_norm(channels)]
      shapes += [(channels, channels, 3, 3), *_batch_norm(channels)]
      if block == 0 and stage > 0:  # the downsampling shortcut: 1x1 conv with stride 2, then BN
        shapes += [(channels, block_in, 1, 1), *_batch_norm(channels)]
    in_channels = channels
  return shapes + [(num_classes, 512), (num_classes,)]


def gpt_shapes(*, vocab: int = 8192, context: int = 512, width: int = 512, layers: int = 6) -> list[Shape]:
  """A GPT-2-style decoder's parameters (nanoGPT layout; the output head is tied to the embedding)."""
  shapes: list[Shape] = [(vocab, width), (context, width)]  # token and position embeddings
  for _ in range(layers):
    shapes += [(width,), (width,)]  # ln_1
    shapes += [(3 * width, width), (3 * width,)]  # attention qkv
    shapes += [(width, width), (width,)]  # attention output projection
    shapes += [(width,), (width,)]  # ln_2
    shapes += [(4 * width, width), (4 * width,)]  # mlp up
    shapes += [(width, 4 * width), (width,)]  # mlp down
  return shapes + [(width,), (width,)]  # ln_f


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("1x16M", ((16 * 2**20,),), "one tensor of 16M values"),
        Workload("200x80K", ((80 * 2**10,),) * 200, "200 tensors of 80K values"),
        Workload("2000x1K", ((2**10,),) * 2000, "2000 tensors of 1K values"),
        Workload("resnet18", tuple(resnet18_shapes()), "ResNet-18's 62 parameter shapes (4-D convs)"),
        Workload("gpt-6L-512", tuple(gpt_shapes()), "GPT-style stack: 6 layers, width 512, vocab 8192"),
    )
}

# --quick: the same kinds of shape lists, small enough for a smoke test.
QUICK_WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("1x16M", ((2**14,),), "quick: one tensor of 16K values"),
        Workload("200x80K", ((2**8,),) * 20, "quick: 20 tensors of 256 values"),
        Workload("2000x1K", ((2**4,),) * 50, "quick: 50 tensors of 16 values"),
        Workload("resnet18", tuple(resnet18_shapes()[:8]) + ((10, 512), (10,)), "quick: ResNet-18's first shapes"),
        Workload("gpt-6L-512", tuple(gpt_shapes(vocab=64, context=16, width=16, layers=1)), "quick: a 1-layer GPT"),
    )
}


def random_leaves(shapes, seed: int) -> list:
  """Standard-normal float32 arrays with the given shapes, reproducible from `seed`."""
  import numpy as np
  rng = np.random.default_rng(seed)
  return [rng.standard_normal(shape, dtype=np.float32) for shape in shapes]
