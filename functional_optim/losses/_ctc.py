"""Connectionist temporal classification (CTC) loss."""

import jax
import jax.numpy as jnp

from ._checks import check_rank
from ._checks import check_shapes_equal

__all__ = ["ctc_loss", "ctc_loss_with_forward_probs"]


def ctc_loss_with_forward_probs(
    logits: jax.typing.ArrayLike,
    logit_paddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    label_paddings: jax.typing.ArrayLike,
    *,
    blank_id: int = 0,
    log_epsilon: jax.typing.ArrayLike = -1e5,
) -> tuple[jax.Array, jax.Array, jax.Array]:
  r"""CTC loss and the CTC forward (alpha) log-probabilities.

  CTC scores every alignment of the label sequence to the frames, with a blank symbol `phi`
  between labels, by a forward recursion over the frames. The forward probabilities come in two
  parts: `alpha_BLANK(t, n)`, the probability of having emitted `n` labels and being at a blank
  at frame `t`, and `alpha_LABEL(t, n)`, of being at label `n` itself.

  Args:
    logits: `(B, T, K)` logits of each class (blank included) for each of `T` frames of `B`
      sequences.
    logit_paddings: `(B, T)` padding indicators of `logits`, 1.0 where a frame is padding.
    labels: `(B, N)` integer reference labels.
    label_paddings: `(B, N)` padding indicators of `labels`, 1.0 where a label is padding; labels
      must be right-padded (each row: zeros, then ones).
    blank_id: class id of the blank symbol.
    log_epsilon: numerically stable stand-in for `log(+0)`.

  Returns:
    `(loss_value, logalpha_blank, logalpha_nonblank)`: the `(B,)` loss of each sequence, and the
    `(T, B, N+1)` log forward probabilities `log alpha_BLANK(t, n)` and `(T, B, N)`
    `log alpha_LABEL(t, n)`.

  Raises:
    ValueError: if the shapes do not match.

  References:
    Graves et al., 2006, "Connectionist temporal classification: labelling unsegmented sequence
    data with recurrent neural networks", https://dl.acm.org/doi/abs/10.1145/1143844.1143891

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> logits = jnp.zeros((1, 3, 3))  # uniform over {blank, 1, 2} at each of 3 frames
    >>> loss, alpha_blank, alpha_label = fo.losses.ctc_loss_with_forward_probs(
    ...     logits, jnp.zeros((1, 3)), jnp.array([[1, 2]]), jnp.zeros((1, 2)))
    >>> print(f"{loss[0]:.4f}", alpha_blank.shape, alpha_label.shape)
    1.6864 (3, 1, 3) (3, 1, 2)
  """
  check_rank(logits, 3)
  check_rank(labels, 2)
  check_shapes_equal(labels, label_paddings)
  check_shapes_equal(logits[..., 0], logit_paddings)
  batchsize, _, num_classes = logits.shape
  batchsize_of_labels, maxlabellen = labels.shape
  if batchsize_of_labels != batchsize:
    raise ValueError(
        f"Expected `labels` to have batch size {batchsize}, got {batchsize_of_labels}."
    )

  logprobs = jax.nn.log_softmax(logits)
  labellens = maxlabellen - jnp.sum(label_paddings, axis=1).astype(jnp.int32)

  # repeat[b, n] == 1.0 when label[b, n] == label[b, n+1].
  repeat = (labels[:, :-1] == labels[:, 1:]).astype(jnp.float32)
  repeat = jnp.pad(repeat, ((0, 0), (0, 1)))

  logprobs_phi = logprobs[:, :, blank_id : blank_id + 1]  # [B, T, 1]
  logprobs_phi = jnp.transpose(logprobs_phi, (1, 0, 2))  # [T, B, 1]

  one_hot = jax.nn.one_hot(labels, num_classes=num_classes)  # [B, N, K]
  logprobs_emit = jnp.einsum("btk,bnk->btn", logprobs, one_hot)
  logprobs_emit = jnp.transpose(logprobs_emit, (1, 0, 2))  # [T, B, N]

  logalpha_phi_init = jnp.ones((batchsize, maxlabellen + 1)) * log_epsilon  # [B, N+1]
  logalpha_phi_init = logalpha_phi_init.at[:, 0].set(0.0)
  logalpha_emit_init = jnp.ones((batchsize, maxlabellen)) * log_epsilon  # [B, N]

  def update_phi_score(phi, added_score):
    # Adds `added_score` to `phi[:, 1:]` in log space.
    return jnp.concatenate([phi[:, :1], jnp.logaddexp(phi[:, 1:], added_score)], axis=-1)

  def loop_body(prev, x):
    prev_phi, prev_emit = prev
    # emit-to-phi epsilon transition, except if the next label is a repetition
    prev_phi_orig = prev_phi
    prev_phi = update_phi_score(prev_phi, prev_emit + log_epsilon * repeat)

    logprob_emit, logprob_phi, pad = x

    # phi-to-emit transition
    next_emit = jnp.logaddexp(prev_phi[:, :-1] + logprob_emit, prev_emit + logprob_emit)
    # self-loop transition
    next_phi = prev_phi + logprob_phi
    # emit-to-phi blank transition only when the next label is a repetition
    next_phi = update_phi_score(next_phi, prev_emit + logprob_phi + log_epsilon * (1.0 - repeat))

    pad = pad.reshape((batchsize, 1))
    next_emit = pad * prev_emit + (1.0 - pad) * next_emit
    next_phi = pad * prev_phi_orig + (1.0 - pad) * next_phi

    return (next_phi, next_emit), (next_phi, next_emit)

  xs = (logprobs_emit, logprobs_phi, logit_paddings.transpose((1, 0)))
  _, (logalpha_phi, logalpha_emit) = jax.lax.scan(
      loop_body, (logalpha_phi_init, logalpha_emit_init), xs
  )

  # The last row needs the last epsilon transition.
  logalpha_phi_last = update_phi_score(logalpha_phi[-1], logalpha_emit[-1])
  logalpha_phi = logalpha_phi.at[-1].set(logalpha_phi_last)

  # The loss of each sequence: its forward probability at its own label length.
  one_hot = jax.nn.one_hot(labellens, num_classes=maxlabellen + 1)  # [B, N+1]
  per_seq_loss = -jnp.einsum("bn,bn->b", logalpha_phi_last, one_hot)

  return per_seq_loss, logalpha_phi, logalpha_emit


def ctc_loss(
    logits: jax.typing.ArrayLike,
    logit_paddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    label_paddings: jax.typing.ArrayLike,
    *,
    blank_id: int = 0,
    log_epsilon: jax.typing.ArrayLike = -1e5,
) -> jax.Array:
  """CTC loss of each sequence; see `ctc_loss_with_forward_probs` for the details.

  Args:
    logits: `(B, T, K)` logits of each class (blank included) for each of `T` frames of `B`
      sequences.
    logit_paddings: `(B, T)` padding indicators of `logits`, 1.0 where a frame is padding.
    labels: `(B, N)` integer reference labels.
    label_paddings: `(B, N)` padding indicators of `labels`, 1.0 where a label is padding; labels
      must be right-padded.
    blank_id: class id of the blank symbol.
    log_epsilon: numerically stable stand-in for `log(+0)`.

  Returns:
    The `(B,)` loss of each sequence.

  References:
    Graves et al., 2006, "Connectionist temporal classification: labelling unsegmented sequence
    data with recurrent neural networks", https://dl.acm.org/doi/abs/10.1145/1143844.1143891

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> logits = jnp.zeros((2, 3, 3))  # uniform over {blank, 1, 2} at each of 3 frames
    >>> labels = jnp.array([[1, 2], [1, 1]])
    >>> with jnp.printoptions(precision=4):
    ...   print(fo.losses.ctc_loss(logits, jnp.zeros((2, 3)), labels, jnp.zeros((2, 2))))
    [1.6864 3.2958]
  """
  per_seq_loss, _, _ = ctc_loss_with_forward_probs(
      logits, logit_paddings, labels, label_paddings, blank_id=blank_id, log_epsilon=log_epsilon
  )
  return per_seq_loss
