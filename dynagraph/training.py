"""Bookkeeping for training scripts, beside DyNet's API (DyNet has none of it).

``import dynagraph as dy`` does not import this module; training scripts do::

    from dynagraph.training import HelpFormatter, KeepBest

* :class:`KeepBest` keeps the parameters of the epoch with the best dev score
  (a checkpoint written with ``ParameterCollection.save``) and puts them back
  into the collection when training ends;
* :class:`HelpFormatter` is argparse's ``ArgumentDefaultsHelpFormatter``
  without "(default: None)" after options whose defaults are computed.
"""
from __future__ import annotations

import argparse
import math
import os

from ._safe_files import check_path

__all__ = ["KeepBest", "HelpFormatter"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default in ``--help``, except a default of None.

    An option whose default is None is one whose value the program computes
    (from other options or from the data); its help text says how, so
    "(default: None)" would only mislead.

    >>> p = argparse.ArgumentParser(formatter_class=HelpFormatter)
    """

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


class KeepBest:
    """Keeps the parameters of the best-scoring evaluation and restores them at the end.

    Call :meth:`update` with each dev score (an accuracy, or a perplexity with
    ``higher_is_better=False``). A score strictly better than every earlier
    one saves all of ``pc``'s parameters to ``path`` (DyNet's text format,
    via ``pc.save``, so the values come back bit for bit); a tie keeps the
    earlier parameters; NaN never counts as better. The first score always
    counts, so there is a checkpoint after one epoch. :meth:`restore` then
    loads the best parameters back into ``pc`` in place (the model objects
    that use them stay valid) and deletes the checkpoint.

    >>> keep = KeepBest(pc, "runs/model.best")
    >>> for epoch in range(epochs):
    ...     train_one_epoch()
    ...     keep.update(accuracy(model, dev))      # True when this epoch is the new best
    >>> keep.restore()                             # pc now holds the best epoch's values
    >>> dy.save("runs/model", [model])

    Attributes: ``best`` (the best score so far, None before the first),
    ``best_update`` (which call of :meth:`update` gave it, from 1),
    ``updates`` (calls so far) and ``since_best`` (calls since the best one:
    0 right after an improvement; use it for early stopping).
    """

    def __init__(self, pc, path, higher_is_better: bool = True):
        self.pc = pc
        self.path = check_path("KeepBest", "path", path)
        self.higher_is_better = bool(higher_is_better)
        self.best = None
        self.best_update = None
        self.updates = 0
        self.since_best = 0
        self._saved = False
        # Made now, so that a path that cannot be written fails before training, not after an epoch.
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)

    def is_better(self, score: float) -> bool:
        """Whether ``score`` would replace the best so far (strictly better; NaN never is)."""
        score = float(score)
        if math.isnan(score):
            return False
        if self.best is None:
            return True
        return score > self.best if self.higher_is_better else score < self.best

    def update(self, score: float) -> bool:
        """Records one evaluation's score; if it is the new best, saves the
        parameters to ``path`` and returns True, else returns False."""
        score = float(score)
        self.updates += 1
        if not self.is_better(score):
            self.since_best += 1
            return False
        self.pc.save(self.path)  # atomic: a crash never leaves half a checkpoint
        self.best, self.best_update, self.since_best, self._saved = score, self.updates, 0, True
        return True

    def restore(self) -> float:
        """Loads the best parameters back into ``pc``, deletes the checkpoint
        file and returns the best score.

        Raises RuntimeError when there is no checkpoint: no :meth:`update`
        yet, only NaN scores, or :meth:`restore` was already called.
        """
        if not self._saved:
            raise RuntimeError(f"KeepBest.restore: no checkpoint at {self.path} "
                               f"({self.updates} scores recorded, best {self.best}; "
                               "restore() runs once after a scored update)")
        self.pc.populate(self.path)
        os.unlink(self.path)
        self._saved = False
        return self.best
