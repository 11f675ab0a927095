"""What SERAC's two training commands share: the schedule, the optimizer step, the progress log."""
from __future__ import annotations

import logging
import time

import torch


def linear_warmup_decay(optim: torch.optim.Optimizer, total: int, warmup: float) -> torch.optim.lr_scheduler.LambdaLR:
    """The rate rises linearly over the first `warmup` share of `total` steps, then falls to zero."""
    warm = max(int(total * warmup), 1)
    return torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(total - warm, 1))))


def optimizer_step(loss: torch.Tensor, optim: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LRScheduler,
                   params: list[torch.nn.Parameter], max_norm: float = 1.0) -> float:
    """Back-propagate `loss`, clip the gradients' norm, step the optimizer and the schedule; the loss."""
    optim.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    optim.step()
    sched.step()
    return loss.item()


class ProgressLog:
    """A step callback that logs the loss, the rate and the time left every `every` steps."""

    def __init__(self, logger: logging.Logger, every: int) -> None:
        self.logger = logger
        self.every = every
        self.started = time.monotonic()

    def __call__(self, step: int, total: int, loss: float) -> None:
        if step % self.every == 0 or step == total:
            rate = step / max(time.monotonic() - self.started, 1e-9)
            self.logger.info("step %d/%d loss %.4f (%.2f steps/s, %.0f s left)", step, total, loss, rate,
                             (total - step) / max(rate, 1e-9))


__all__ = ["ProgressLog", "linear_warmup_decay", "optimizer_step"]
