"""NVIL: the score-function estimators are unbiased (their mean is the reparameterised gradient's),
and the control variates cut the score function's variance by a large factor."""
import numpy as np

import dynagraph as dy
from zoo_helpers import load_example

nvil = load_example("nvil")


def _setup(seed=7):
    dy.init(seed=seed)
    rng = np.random.default_rng(seed)
    protos = (rng.random((3, 16)) < 0.5).astype(np.float32)
    x = np.abs(protos[rng.integers(0, 3, 150)] - (rng.random((150, 16)) < 0.05)).astype(np.float32)
    pc = dy.ParameterCollection()
    vae = nvil.VAE(pc, n_in=16, n_hidden=12, n_latent=2)
    nvil.train_reparam(vae, dy.AdamTrainer(pc, 0.01), x, 3, 30, rng, quiet=True)
    baseline = nvil.Baseline(pc, 16, n_hidden=8)
    nvil.fit_baseline(vae, baseline, dy.AdamTrainer(pc, 0.02), x, 150, 30, rng)
    return vae, pc, baseline, x, rng


def test_score_function_estimators_are_unbiased_and_control_variates_cut_variance():
    vae, pc, baseline, x, rng = _setup()
    table = nvil.variance_table(vae, pc, baseline, x, rng, draws=400, rows_per_draw=4)
    # Unbiased: each mean sits within Monte Carlo error of the reparameterised mean (RMS z ~ 1).
    assert table["score function"]["bias_z"] < 1.6, table
    assert table["nvil"]["bias_z"] < 1.6, table
    # Without the baseline (b = 0) nvil would equal the plain score function.
    assert table["score function"]["variance"] > 5 * table["nvil"]["variance"], table
    assert table["nvil"]["variance"] > table["reparameterised"]["variance"], table


def test_frozen_baseline_changes_no_statistics_and_training_moves_them():
    vae, pc, baseline, x, rng = _setup(8)
    c, v = baseline.c, baseline.v
    assert c != 0.0 and v != 1.0                       # fit_baseline adapted them
    baseline.frozen = True
    dy.renew_cg()
    nvil.score_function_loss(vae, x[:10], baseline)
    assert (baseline.c, baseline.v) == (c, v)
