"""RAdam + Lookahead and the decaying cosine warm-restart schedule."""

from __future__ import annotations

import io
import math

import pytest
import torch

from training.optim import Lookahead, build_optimizer, build_scheduler, restart_factor

pytestmark = pytest.mark.usefixtures("one_thread")


def test_lookahead_synchronises_every_k_steps() -> None:
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5))
    start = p.detach().clone()
    opt = Lookahead(torch.optim.SGD([p], lr=0.1), k=3, alpha=0.5)
    fast = start.clone()
    for step in range(1, 7):
        opt.zero_grad()
        (p * torch.arange(5.0)).sum().backward()
        opt.step()
        fast = fast - 0.1 * torch.arange(5.0)
        if step == 3:
            slow = start + 0.5 * (fast - start)
            fast = slow.clone()
            torch.testing.assert_close(p.detach(), slow)
        elif step == 6:
            slow = slow + 0.5 * (fast - slow)
            torch.testing.assert_close(p.detach(), slow)
        else:
            torch.testing.assert_close(p.detach(), fast)
    with pytest.raises(ValueError):
        Lookahead(torch.optim.SGD([p], lr=0.1), k=0)


def test_restart_schedule_decays_its_peak() -> None:
    assert restart_factor(0, 100) == 1.0
    assert restart_factor(50, 100) == pytest.approx(0.5)
    assert restart_factor(99, 100) < 1e-3
    assert restart_factor(100, 100) == pytest.approx(0.85)
    assert restart_factor(250, 100) == pytest.approx(0.85**2 * 0.5)
    p = torch.nn.Parameter(torch.zeros(2))
    opt = build_optimizer([p], lr=1e-3)
    sched = build_scheduler(opt, period=4)
    lrs = []
    for _ in range(9):
        lrs.append(opt.param_groups[0]["lr"])
        p.grad = torch.ones(2)
        opt.step()
        sched.step()
    want = [1e-3 * restart_factor(s, 4) for s in range(9)]
    assert lrs == pytest.approx(want)
    assert math.isclose(lrs[4], 0.85e-3) and math.isclose(lrs[8], 0.85**2 * 1e-3)


def test_optimizer_state_round_trips_with_weights_only() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)

    def run(opt: Lookahead, steps: int) -> None:
        for i in range(steps):
            opt.zero_grad()
            model(torch.full((2, 4), float(i))).pow(2).sum().backward()
            opt.step()

    opt = build_optimizer(model.parameters(), k=3)
    sched = build_scheduler(opt, period=5)
    run(opt, 4)
    sched.step()
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict(),
                "model": model.state_dict()}, buf)
    run(opt, 4)
    after = [p.detach().clone() for p in model.parameters()]

    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    model.load_state_dict(state["model"])
    opt2 = build_optimizer(model.parameters(), k=3)
    sched2 = build_scheduler(opt2, period=5)
    opt2.load_state_dict(state["opt"])
    sched2.load_state_dict(state["sched"])
    assert opt2.steps == 4 and sched2.last_epoch == 1
    run(opt2, 4)
    for a, b in zip(after, model.parameters()):
        assert torch.equal(a, b.detach())
    radam = opt2.base
    assert isinstance(radam, torch.optim.RAdam)
    group = radam.param_groups[0]
    assert group["betas"] == (0.95, 0.999) and group["eps"] == 1e-5
    assert group["weight_decay"] == 5e-4 and group["decoupled_weight_decay"]
