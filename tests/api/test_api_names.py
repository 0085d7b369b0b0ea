"""Every public name of DyNet 2.2's Python module exists in dynagraph.

The list is kept here (public API facts: plain identifiers) so the test runs
anywhere; when the project's shared/dynet_api_names.txt is beside the repo it
is read too, and both must be covered.
"""
from pathlib import Path

import pytest

import dynagraph

DYNET_NAMES = [
    "AdadeltaTrainer", "AdagradTrainer", "AdamTrainer", "AmsgradTrainer", "BiRNNBuilder",
    "ClassFactoredSoftmaxBuilder", "CompactVanillaLSTMBuilder", "ComputationGraph", "ConstInitializer",
    "CoupledLSTMBuilder", "CyclicalSGDTrainer", "DeviceInfo", "DynetParams", "ERRMSG", "Expression",
    "FastLSTMBuilder", "FloatValue", "FloatVectorValue", "FromFileInitializer", "GRUBuilder",
    "GlorotInitializer", "HAVE_CUDA", "IdentityInitializer", "LSTMBuilder", "LookupParameters", "Model",
    "MomentumSGDTrainer", "NormalInitializer", "NumpyInitializer", "ParameterCollection", "Parameters",
    "PyInitializer", "RMSPropTrainer", "RNNState", "SaxeInitializer", "SimpleRNNBuilder", "SimpleSGDTrainer",
    "SoftmaxBuilder", "SparseLSTMBuilder", "StackedRNNState", "StandardSoftmaxBuilder", "Tensor", "Trainer",
    "UniformInitializer", "UnsignedValue", "UnsignedVectorValue", "VanillaLSTMBuilder", "abs", "acos",
    "acosh", "affine_transform", "argmax", "asin", "asinh", "atan", "atanh", "available_devices", "average",
    "binary_log_loss", "block_dropout", "bmax", "bmin", "cdiv", "ceil", "cg", "cg_checkpoint", "cg_revert",
    "cg_version", "circ_conv", "circ_corr", "cmult", "colwise_add", "concatenate", "concatenate_cols",
    "concatenate_to_batch", "const_parameter", "constant", "constrained_softmax", "contract3d_1d",
    "contract3d_1d_1d", "contract3d_1d_1d_bias", "contract3d_1d_bias", "conv2d", "conv2d_bias", "cos",
    "cosh", "cube", "cumsum", "dot_product", "dropout", "dropout_batch", "dropout_dim", "dump_cg",
    "dynet_config", "elu", "emax", "erf", "esum", "exp", "filter1d_narrow", "flip_gradient", "floor",
    "fold_rows", "forward", "get_device_info", "hinge", "hinge_batch", "hinge_dim", "huber_distance", "init",
    "init_from_params", "inputMatrix", "inputTensor", "inputTensorTranspose", "inputVector", "inverse",
    "kmax_pooling", "kmh_ngram", "l1_distance", "l2_norm", "layer_norm", "lgamma", "load", "load_generator",
    "log", "log_sigmoid", "log_softmax", "logdet", "logistic", "logsumexp", "logsumexp_dim", "lookup",
    "lookup_batch", "matInput", "max_dim", "maxpooling2d", "mean_batches", "mean_dim", "mean_elems",
    "min_dim", "moment_batches", "moment_dim", "moment_elems", "nobackprop", "noise", "npvalues", "one_hot",
    "ones", "pairwise_rank_loss", "parameter", "pick", "pick_batch", "pick_batch_elem", "pick_batch_elems",
    "pick_range", "pickneglogsoftmax", "pickneglogsoftmax_batch", "pickrange", "poisson_loss", "pow",
    "print_graphviz", "print_text_graphviz", "random_bernoulli", "random_gumbel", "random_normal",
    "random_uniform", "rectify", "renew_cg", "reset_random_seed", "reshape", "round", "save", "scalarInput",
    "scale_gradient", "select_cols", "select_rows", "selu", "silu", "sin", "sinh", "softmax", "softsign",
    "sparse_inputTensor", "sparsemax", "sqrt", "square", "squared_distance", "squared_norm", "std_batches",
    "std_dim", "std_elems", "strided_select", "sum_batches", "sum_dim", "sum_elems", "tan", "tanh",
    "to_device", "trace_of_product", "transpose", "values", "vanilla_lstm_c", "vanilla_lstm_gates",
    "vanilla_lstm_gates_concat", "vanilla_lstm_gates_dropout", "vanilla_lstm_gates_dropout_concat",
    "vanilla_lstm_h", "vecInput", "weight_norm", "zeroes", "zeros",
]

SHARED_LIST = Path(__file__).resolve().parents[3] / "shared" / "dynet_api_names.txt"


def _missing(names) -> list:
    return sorted(set(names) - set(dir(dynagraph)))


def test_list_is_complete():
    assert len(DYNET_NAMES) == len(set(DYNET_NAMES)) == 211


def test_every_dynet_name_exists():
    assert _missing(DYNET_NAMES) == []


def test_every_name_in_the_shared_list_exists():
    if not SHARED_LIST.exists():
        pytest.skip(f"{SHARED_LIST} not found (no shared/ beside the repository)")
    names = SHARED_LIST.read_text().split()
    assert _missing(names) == []


def test_public_names_are_in_all():
    present = [n for n in DYNET_NAMES if hasattr(dynagraph, n)]
    assert sorted(set(present) - set(dynagraph.__all__)) == []
