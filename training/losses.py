"""The Meta-TasNet training objective: four terms per stage, summed over stages.

Per stage ``s`` (paper, Sec. 3 and the authors' code)::

    loss_s = - sum_stems SI-SNR_masked(estimates, sources)
             - w_rec * SI-SNR(decoder(mix latent), mix)
             + w_dis * dissimilarity(|encoder(sources)|)
             - w_sim * similarity(encoder(sources))

SI-SNR of a source is averaged only over the batch items where that source is present (``masks``
is 1 for a present, non-silent source). The statistics vector has every stage's four SI-SNRs and
the last stage's reconstruction SI-SNR, dissimilarity and similarity (``4 * stages + 3`` values).

The functions reproduce the authors' numbers on ``tiny_io.npz`` (see ``tests/training``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.model import MetaTasNet
from core.model.decoder import decode_stems

#: Stem pairs (a, b) with a < b used by the dissimilarity term.
_PAIRS_A = (0, 0, 0, 1, 1, 2)
_PAIRS_B = (1, 2, 3, 2, 3, 3)


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (the paper's / ``train.py`` defaults).

    ``stems`` weighs each stem's SI-SNR term (drums, bass, other, vocals); the paper sums them
    with weight 1. A larger weight spends more of the shared generator's capacity on that stem.
    """

    reconstruction: float = 0.05
    dissimilarity: float = 3.0
    similarity: float = 2.0
    stems: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)


def si_snr(
    estimate: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Scale-invariant SNR in dB, averaged over the batch (and masked).

    Args:
        estimate: ``(batch, stems, 1, time)`` (or ``(batch, 1, time)``).
        target: same shape as ``estimate``.
        mask: ``(batch, stems, 1)``: 1 where the target source is present; items with 0 are left
            out of that source's mean. ``None`` averages over everything.

    Returns:
        ``(stems,)`` for 4-D inputs (one value per source), ``(1,)``-like for 3-D.
    """
    target_power = target.pow(2).sum(-1, keepdim=True) + 1e-8
    scale = (target * estimate).sum(-1, keepdim=True) / target_power
    projection = scale * target
    residual = estimate - projection
    true_power = projection.pow(2).sum(-1).clamp(min=1e-8)
    res_power = residual.pow(2).sum(-1).clamp(min=1e-8)
    sdr = 10 * (torch.log10(true_power) - torch.log10(res_power))
    if mask is None:
        return sdr.mean(dim=(0, -1))
    return (sdr * mask).sum(dim=(0, -1)) / mask.sum(dim=(0, -1)).clamp(min=1e-8)


def dissimilarity(latents: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity of |latents| between the six pairs of different stems.

    Args:
        latents: ``(stems, batch, frames, channels)``, zero for absent sources.
        mask: ``(batch, stems)``, 1 for present sources.

    Returns:
        a scalar: summed over pairs and batch, divided by the number of valid pairs, averaged
        over frames.
    """
    a = latents[list(_PAIRS_A)].abs()
    b = latents[list(_PAIRS_B)].abs()
    count = (mask[:, list(_PAIRS_A)] * mask[:, list(_PAIRS_B)]).sum() + 1e-8
    sim = F.cosine_similarity(a, b, dim=-1)
    return (sim.sum(dim=(0, 1)) / count).mean()


def similarity(latents: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity of a stem's latents with the same stem in the previous batch item.

    Args:
        latents: ``(stems, batch, frames, channels)``, zero for absent sources.
        mask: ``(batch, stems)``, 1 for present sources.

    Returns:
        a scalar (cyclic along the batch; a batch of one compares an item with itself).
    """
    other = torch.roll(latents, 1, dims=1)
    count = (mask * torch.roll(mask, 1, dims=0)).sum().clamp(min=1e-8)
    sim = F.cosine_similarity(latents, other, dim=-1)
    return (sim.sum(dim=(0, 1)) / count).mean()


def stage_loss(
    estimates: torch.Tensor,
    sources: torch.Tensor,
    masks: torch.Tensor,
    source_latents: torch.Tensor,
    mix_reconstruction: torch.Tensor,
    mix: torch.Tensor,
    weights: LossWeights = LossWeights(),  # noqa: B008 - frozen dataclass, immutable
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss of one stage.

    Args:
        estimates: ``(batch, 4, 1, time)`` separated waveforms.
        sources: ``(batch, 4, 1, time)`` ground truth.
        masks: ``(batch, 4, 1)``, 1 for present sources.
        source_latents: ``(batch, 4, N, frames)`` encoder latents of each true source.
        mix_reconstruction: ``(batch, 1, time)`` decoder output of the unmasked mix latent.
        mix: ``(batch, 1, time)``.
        weights: auxiliary term weights.

    Returns:
        the scalar loss and 7 statistics: 4 SI-SNRs, reconstruction SI-SNR, dissimilarity,
        similarity.
    """
    sdr = si_snr(estimates, sources, masks)
    loss = -(sdr * sdr.new_tensor(weights.stems)).sum()  # weights of 1 leave the sum exact
    zero = sdr.new_zeros(())
    rec = si_snr(mix_reconstruction, mix).mean() if weights.reconstruction > 0 else zero
    loss = loss - weights.reconstruction * rec
    dis = sim = zero
    if weights.dissimilarity > 0 or weights.similarity > 0:
        m = masks.squeeze(-1)
        lat = (source_latents * m[:, :, None, None]).permute(1, 0, 3, 2)  # (stems, B, T', N)
        if weights.dissimilarity > 0:
            dis = dissimilarity(lat, m)
        if weights.similarity > 0:
            sim = similarity(lat, m)
    loss = loss + weights.dissimilarity * dis - weights.similarity * sim
    stats = torch.cat([sdr.detach(), torch.stack([rec, dis, sim]).detach()])
    return loss, stats


def training_forward(
    model: MetaTasNet | torch.nn.Module,
    mixes: list[torch.Tensor],
    sources: list[torch.Tensor],
    masks: list[torch.Tensor],
    weights: LossWeights = LossWeights(),  # noqa: B008 - frozen dataclass, immutable
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run every stage in training mode and compute the summed loss.

    The stages are driven through their public pieces (encoder, ``separate_latent``, decoder).
    Under DDP call it through ``training.train.TrainingModule`` so that DDP sees the forward.

    Args:
        model: the model (in ``train()`` mode for dropout).
        mixes: per-stage mixtures ``[(batch, 1, T_s)]``.
        sources: per-stage sources ``[(batch, 4, 1, T_s)]``.
        masks: per-stage presence masks ``[(batch, 4, 1)]``.
        weights: auxiliary term weights.

    Returns:
        the loss (scalar) and the statistics ``(4 * stages + 3,)``: every stage's four SI-SNRs
        then the last stage's reconstruction SI-SNR, dissimilarity and similarity.
    """
    total = mixes[0].new_zeros(())
    sdr_stats = []
    previous = None
    last_stats = None
    for stage, mix, src, mask in zip(model.stages, mixes, sources, masks):
        latent = stage.encoder(mix)
        masked = stage.separate_latent(latent, previous)
        estimates = decode_stems(stage.decoder, masked)
        b, s, _, t = src.shape
        src_latents = stage.encoder(src.reshape(b * s, 1, t)).view(b, s, latent.shape[1], -1)
        reconstruction = stage.decoder(latent)
        # Under CUDA autocast the network runs in half precision; the loss is taken in float32.
        loss, stats = stage_loss(estimates.float(), src.float(), mask.float(),
                                 src_latents.float(), reconstruction.float(), mix.float(),
                                 weights)
        total = total + loss
        sdr_stats.append(stats[:4])
        last_stats = stats[4:]
        previous = masked
    assert last_stats is not None
    return total, torch.cat([*sdr_stats, last_stats])
