// The LSTM device ops instantiated for a GPU: their kernel bodies
// (csrc/kernels/lstm.h) launched by nvcc through cuda::Backend.
#include "cuda/launch.cuh"
#include "device/lstm_ops.h"

namespace dg {

void register_cuda_lstm(DeviceOpTable& t) { dev::register_lstm<cuda::Backend>(t); }

}  // namespace dg
