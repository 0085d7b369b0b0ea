// The losses and norms instantiated for a GPU: their kernel bodies
// (csrc/kernels/losses.h) launched by nvcc through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/losses_ops.h"

namespace dg {

void register_cuda_losses(DeviceOpTable& t) { dev::register_losses<cuda::Backend>(t); }

}  // namespace dg
