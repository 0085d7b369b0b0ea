// The softmax and reduce device ops instantiated for a GPU: their kernel bodies
// (csrc/kernels/) launched by nvcc through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/softmax_reduce_ops.h"

namespace dg {

void register_cuda_softmax_reduce(DeviceOpTable& t) { dev::register_softmax_reduce<cuda::Backend>(t); }

}  // namespace dg
