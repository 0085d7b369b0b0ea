// The reductions along axes and logsumexp instantiated for a GPU: their kernel
// bodies (csrc/kernels/reduce_axis.h) launched by nvcc through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/reduce_axis_ops.h"

namespace dg {

void register_cuda_reduce_axis(DeviceOpTable& t) { dev::register_reduce_axis<cuda::Backend>(t); }

}  // namespace dg
