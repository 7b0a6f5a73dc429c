"""Optimiser and learning-rate schedule of the paper: RAdam + Lookahead ("Ranger"), cosine warm
restarts whose peak decays at every restart.

RAdam is ``torch.optim.RAdam`` (with decoupled weight decay, as the authors' Ranger applied it:
``p -= lr * wd * p``). Lookahead is a small wrapper written here: the one maintained library
that ships it (timm) would pull torchvision and more into the training install for ~50 lines,
and ``torch-optimizer`` has been unmaintained since 2021. The schedule is ``torch.optim``'s
``LambdaLR`` with the decaying-peak cosine as its factor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class Lookahead(Optimizer):
    """Lookahead (Zhang et al., 2019) around any optimiser.

    Every ``k`` inner steps the slow weights move ``alpha`` of the way to the fast weights and
    the fast weights are reset to them. The wrapper shares ``param_groups`` with the inner
    optimiser, so learning-rate schedulers act on both.

    Args:
        base: the inner ("fast") optimiser.
        k: inner steps per synchronisation.
        alpha: slow-weight step size.
    """

    def __init__(self, base: Optimizer, k: int = 6, alpha: float = 0.5) -> None:
        if k < 1 or not 0.0 < alpha <= 1.0:
            raise ValueError("Lookahead needs k >= 1 and 0 < alpha <= 1")
        # Optimizer.__init__ would copy the groups; share the inner optimiser's instead.
        self.base = base
        self.k, self.alpha = int(k), float(alpha)
        self.defaults = base.defaults
        self.param_groups = base.param_groups
        self.state = base.state
        self._optimizer_step_pre_hooks = {}
        self._optimizer_step_post_hooks = {}
        self._optimizer_state_dict_pre_hooks = {}
        self._optimizer_state_dict_post_hooks = {}
        self._optimizer_load_state_dict_pre_hooks = {}
        self._optimizer_load_state_dict_post_hooks = {}
        self.steps = 0
        self.slow = [p.detach().clone() for g in self.param_groups for p in g["params"]]

    def _params(self) -> list[torch.Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One inner step; every ``k``-th also synchronises the slow weights."""
        loss = self.base.step(closure)
        self.steps += 1
        if self.steps % self.k == 0:
            for p, slow in zip(self._params(), self.slow):
                slow.add_(p.detach() - slow, alpha=self.alpha)
                p.copy_(slow)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients."""
        self.base.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        """Inner state plus slow weights and the step counter (tensors and plain types only)."""
        return {"base": self.base.state_dict(), "slow": [s.clone() for s in self.slow],
                "steps": self.steps, "k": self.k, "alpha": self.alpha}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.base.load_state_dict(state["base"])
        self.param_groups = self.base.param_groups
        self.state = self.base.state
        if len(state["slow"]) != len(self.slow):
            raise ValueError("Lookahead state does not match the parameters")
        for dst, src in zip(self.slow, state["slow"]):
            dst.copy_(src)
        self.steps = int(state["steps"])


def build_optimizer(
    params: Iterable[torch.nn.Parameter], lr: float = 1e-3,
    betas: tuple[float, float] = (0.95, 0.999), eps: float = 1e-5,
    weight_decay: float = 5e-4, k: int = 6, alpha: float = 0.5,
) -> Lookahead:
    """RAdam + Lookahead with the paper's settings (only parameters that require gradients)."""
    trainable = [p for p in params if p.requires_grad]
    radam = torch.optim.RAdam(trainable, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                              decoupled_weight_decay=True)
    return Lookahead(radam, k=k, alpha=alpha)


def restart_factor(step: int, period: int, decay: float = 0.85) -> float:
    """Learning-rate factor at ``step``: a cosine from ``decay**cycle`` to 0 every ``period``."""
    cycle, pos = divmod(max(int(step), 0), max(int(period), 1))
    return decay**cycle * 0.5 * (1.0 + math.cos(math.pi * pos / period))


class _RestartFactor:
    """Picklable-free callable for LambdaLR (its state is rebuilt from the config on resume)."""

    def __init__(self, period: int, decay: float) -> None:
        self.period, self.decay = period, decay

    def __call__(self, step: int) -> float:
        return restart_factor(step, self.period, self.decay)


def build_scheduler(optimizer: Optimizer, period: int = 200_000, decay: float = 0.85) -> LambdaLR:
    """Cosine warm restarts every ``period`` optimiser steps, peak times ``decay`` per restart."""
    return LambdaLR(optimizer, _RestartFactor(period, decay))
