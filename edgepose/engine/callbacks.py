"""What happens at the end of every epoch: a short, ordered list of callbacks.

The trainer's ``end_epoch`` gathers every rank's RNG states into ``state.rng_states``, calls
``on_epoch_end(state, result, metrics)`` of each callback in ``state.callbacks`` in order on every rank, then
waits for all ranks. ``metrics`` is empty in epochs without an evaluation. :func:`default_callbacks` are the
run's own, acting on rank 0 only, in this order::

    EpochLog          the epoch's row of epochs.csv and TensorBoard's epoch scalars
    SaveCheckpoints   best.pt when the primary metric improved, then last.pt (every save_every epochs, the last)
    PlotCurves        plots/losses.png and plots/metrics.png, after each evaluation and the last epoch
    EpochLine         one line on stderr: epoch, seconds, loss terms, main validation metrics

The row comes before the checkpoints because a resume trusts a ``best.pt`` only when this run's
``epochs.csv`` logged it (:mod:`edgepose.engine.resume`). ``train_experiment(cfg, callbacks=[...])`` appends
callbacks of one's own after these, so they find the epoch's checkpoint written. A callback runs on every rank
(test ``state.main`` to act once) and must not draw from the global python / numpy / torch generators: the run
would continue from other RNG states than a resumed one, which restores those gathered before the callbacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from edgepose.engine.checkpoint import model_info_record, save_checkpoint, unwrap_model
from edgepose.engine.config import experiment_to_dict
from edgepose.engine.logging import CsvLogger, say

if TYPE_CHECKING:
    from edgepose.engine.state import EpochResult, TrainState


@runtime_checkable
class EpochCallback(Protocol):
    """Anything with ``on_epoch_end``: called after every epoch (see the module docstring for when and where)."""

    def on_epoch_end(self, state: TrainState, result: EpochResult, metrics: Mapping[str, float]) -> None: ...


def is_last_epoch(state: TrainState) -> bool:
    """Whether the epoch that just ended is the run's last (all epochs done, or the time budget ran out)."""
    return state.epoch == state.cfg.train.epochs or state.stopped_by_budget


class EpochLog:
    """The epoch's row: epoch, step, lr, seconds, images/s (all ranks), ``train_<term>`` means, ``val_<metric>``."""

    def on_epoch_end(self, state: TrainState, result: EpochResult, metrics: Mapping[str, float]) -> None:
        if not state.main:
            return
        row = {"epoch": state.epoch, "step": state.step, "lr": result.lr, "seconds": round(result.seconds, 3),
               "images_per_s": round(result.images * state.dist.world_size / max(result.seconds, 1e-9), 2)}  # fmt: skip
        row.update({f"train_{k}": v for k, v in result.means.items()})
        row.update({f"val_{k}": v for k, v in metrics.items()})
        state.epoch_log.log(row)  # type: ignore[union-attr]
        state.tb.scalars("epoch", row, state.epoch)  # type: ignore[union-attr]


def checkpoint_state(state: TrainState, rng_states: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``last.pt`` / ``best.pt`` hold (see :mod:`edgepose.engine.checkpoint`); ``rng_states`` per rank."""
    model, cfg = state.model, state.cfg
    return {
        "model": unwrap_model(model).state_dict(),
        "model_name": getattr(model, "model_name", cfg.model.name),
        "model_overrides": dict(getattr(model, "model_overrides", cfg.model.overrides)),
        "model_info": model_info_record(model),
        "config": experiment_to_dict(cfg),
        "epoch": state.epoch,
        "step": state.step,
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.schedule.state_dict(),
        "scaler": state.scaler.state_dict(),
        "rng": rng_states,
        "best_metric": state.best,
        "best_epoch": state.best_epoch,
        "primary_metric": state.primary,
        "metrics": state.last_metrics,
    }


class SaveCheckpoints:
    """``best.pt`` when this epoch's evaluation is the best so far, then ``last.pt`` (every ``save_every``-th
    epoch and the last). ``best.pt`` goes first: a kill between the two leaves it the newer, and resume takes it."""

    def on_epoch_end(self, state: TrainState, result: EpochResult, metrics: Mapping[str, float]) -> None:
        if not state.main:
            return
        ckpt = checkpoint_state(state, state.rng_states)
        if metrics and state.best_epoch == state.epoch:
            save_checkpoint(state.out_dir / "best.pt", ckpt)
        if is_last_epoch(state) or state.epoch % state.cfg.train.save_every == 0:
            save_checkpoint(state.out_dir / "last.pt", ckpt)


def write_plots(out_dir: Path, step_log: CsvLogger, epoch_log: CsvLogger) -> None:
    """Loss and metric curves; a plotting failure is reported, never fatal to training."""
    try:
        from edgepose.vis.plots import plot_loss_curves, plot_metric_curves

        plot_loss_curves(step_log.rows or epoch_log.rows, out_dir / "plots" / "losses.png", epoch_log.rows)
        plot_metric_curves(epoch_log.rows, out_dir / "plots" / "metrics.png")
    except (ImportError, OSError, ValueError, RuntimeError) as exc:  # the run matters more than its pictures
        say(f"warning: could not draw plots ({type(exc).__name__}: {exc})")


class PlotCurves:
    """The curves redrawn after each evaluation and at the last epoch (cheap next to an evaluation)."""

    def on_epoch_end(self, state: TrainState, result: EpochResult, metrics: Mapping[str, float]) -> None:
        if state.main and (metrics or is_last_epoch(state)):
            write_plots(state.out_dir, state.step_log, state.epoch_log)  # type: ignore[arg-type]


class EpochLine:
    """One line per epoch on stderr: ``epoch 3/10 (12.3s) loss 0.0012 | val AP 0.6120 AP50 ...``."""

    def on_epoch_end(self, state: TrainState, result: EpochResult, metrics: Mapping[str, float]) -> None:
        summary = " ".join(f"{k} {v:.4g}" for k, v in result.means.items())
        shown = " ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k in (state.primary, "AP50", "AR"))
        say(f"epoch {state.epoch}/{state.cfg.train.epochs} ({result.seconds:.1f}s) {summary}"
            + (f" | val {shown}" if shown else ""), state.main)  # fmt: skip


def default_callbacks() -> list[EpochCallback]:
    """The run's own epoch-end work, in the order it must happen (the row before the checkpoints)."""
    return [EpochLog(), SaveCheckpoints(), PlotCurves(), EpochLine()]


def checked_callbacks(callbacks: Iterable[Any]) -> list[EpochCallback]:
    """``callbacks`` as a list, each checked to have ``on_epoch_end`` (a mistake found before the run starts,
    not after its first epoch)."""
    out = list(callbacks)
    for i, cb in enumerate(out):
        if not callable(getattr(cb, "on_epoch_end", None)):
            raise TypeError(f"callback {i} ({type(cb).__name__}) has no on_epoch_end(state, result, metrics) method")
    return out
