// conv2d, conv2d_bias and maxpooling2d instantiated for a GPU: their kernel bodies
// (csrc/kernels/conv.h) launched by nvcc through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/conv_ops.h"

namespace dg {

void register_cuda_conv(DeviceOpTable& t) { dev::register_conv<cuda::Backend>(t); }

}  // namespace dg
