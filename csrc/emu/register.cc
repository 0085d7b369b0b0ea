// The emulated device's op table: every device op instantiated with the
// host launcher (emu::Backend), so the kernel bodies a GPU runs execute here.
#include "device/arith_ops.h"
#include "device/contract_ops.h"
#include "device/conv1d_ops.h"
#include "device/conv_ops.h"
#include "device/inputs_ops.h"
#include "device/losses_ops.h"
#include "device/lstm_ops.h"
#include "device/matmul_ops.h"
#include "device/norm_ops.h"
#include "device/random_ops.h"
#include "device/reduce_axis_ops.h"
#include "device/select_ops.h"
#include "device/shape_noise_ops.h"
#include "device/softmax_reduce_ops.h"
#include "device/sparse_ops.h"
#include "device/trainer_ops.h"
#include "emu/copy_worker.h"
#include "emu/emu.h"

namespace dg {

void register_emu_ops(DeviceOpTable& t) {
  using B = emu::Backend;
  dev::register_inputs<B>(t);
  dev::register_arith<B>(t);
  dev::register_matmul<B>(t);
  dev::register_softmax_reduce<B>(t);
  dev::register_shape_noise<B>(t);
  dev::register_lstm<B>(t);
  dev::register_select<B>(t);
  dev::register_reduce_axis<B>(t);
  dev::register_losses<B>(t);
  dev::register_random<B>(t);
  dev::register_norm<B>(t);
  dev::register_sparse<B>(t);
  dev::register_conv<B>(t);
  dev::register_conv1d<B>(t);
  dev::register_contract<B>(t);
  t.fill = [](float* p, size_t n, float v) { dev::fill<B>(p, n, v); };
  t.add_from_host = dev::add_from_host<B>;
  t.outer_from_host = dev::outer_from_host<B>;
  t.copy = B::copy;
  t.to_host = B::to_host;
  t.to_device = B::to_device;
  t.synchronize = B::synchronize;
  t.gather_slices = dev::gather_slices<B>;
  t.scatter_add_slices = dev::scatter_add_slices<B>;
  t.copy_async = [](void* dst, const void* src, size_t bytes, bool) { return emu::copy_async(dst, src, bytes); };
  t.event_done = emu::event_done;
  t.wait_event = emu::wait_event;
  t.host_wait = emu::wait_event;
  t.update = dev::update<B>;
  t.squared_norm = dev::squared_norm<B>;
}

}  // namespace dg
