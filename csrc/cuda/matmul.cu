// The matmul device ops instantiated for a GPU: their kernel bodies
// (csrc/kernels/) launched by nvcc through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/matmul_ops.h"

namespace dg {

void register_cuda_matmul(DeviceOpTable& t) { dev::register_matmul<cuda::Backend>(t); }

}  // namespace dg
