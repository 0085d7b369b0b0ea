// The selection device ops instantiated for a GPU: their kernel bodies
// (csrc/kernels/select.h) launched by nvcc through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/select_ops.h"

namespace dg {

void register_cuda_select(DeviceOpTable& t) { dev::register_select<cuda::Backend>(t); }

}  // namespace dg
