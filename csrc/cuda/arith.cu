// The arith device ops instantiated for a GPU: their kernel bodies
// (csrc/kernels/) launched by nvcc through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/arith_ops.h"

namespace dg {

void register_cuda_arith(DeviceOpTable& t) { dev::register_arith<cuda::Backend>(t); }

}  // namespace dg
