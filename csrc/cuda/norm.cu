// layer_norm and weight_norm instantiated for a GPU: their kernel bodies
// (csrc/kernels/norm.h) launched by nvcc through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/norm_ops.h"

namespace dg {

void register_cuda_norm(DeviceOpTable& t) { dev::register_norm<cuda::Backend>(t); }

}  // namespace dg
