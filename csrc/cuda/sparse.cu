// sparsemax and constrained_softmax instantiated for a GPU: their kernel
// bodies (csrc/kernels/sparse.h) launched by nvcc through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/sparse_ops.h"

namespace dg {

void register_cuda_sparse(DeviceOpTable& t) { dev::register_sparse<cuda::Backend>(t); }

}  // namespace dg
