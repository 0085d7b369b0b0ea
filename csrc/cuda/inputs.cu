// The inputs device ops instantiated for a GPU: their kernel bodies
// (csrc/kernels/) launched by nvcc through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/inputs_ops.h"

namespace dg {

void register_cuda_inputs(DeviceOpTable& t) { dev::register_inputs<cuda::Backend>(t); }

}  // namespace dg
