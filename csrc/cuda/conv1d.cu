// The sequence device ops (filter1d_narrow, kmax_pooling, fold_rows, kmh_ngram,
// circ_conv, circ_corr) instantiated for a GPU: their kernel bodies
// (csrc/kernels/conv1d.h) launched by nvcc through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/conv1d_ops.h"

namespace dg {

void register_cuda_conv1d(DeviceOpTable& t) { dev::register_conv1d<cuda::Backend>(t); }

}  // namespace dg
