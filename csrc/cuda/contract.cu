// The contract3d_* device ops instantiated for a GPU: their products go to
// cuBLAS (device/matmul_ops.h), the bias kernels launch through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/contract_ops.h"

namespace dg {

void register_cuda_contract(DeviceOpTable& t) { dev::register_contract<cuda::Backend>(t); }

}  // namespace dg
