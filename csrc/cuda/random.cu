// The random ops (noise, dropout variants, random inputs) instantiated for a
// GPU: their kernel bodies (csrc/kernels/random.h) launched through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/random_ops.h"

namespace dg {

void register_cuda_random(DeviceOpTable& t) { dev::register_random<cuda::Backend>(t); }

}  // namespace dg
