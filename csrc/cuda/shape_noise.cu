// The shape and noise device ops instantiated for a GPU: their kernel bodies
// (csrc/kernels/) launched by nvcc through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/shape_noise_ops.h"

namespace dg {

void register_cuda_shape_noise(DeviceOpTable& t) { dev::register_shape_noise<cuda::Backend>(t); }

}  // namespace dg
