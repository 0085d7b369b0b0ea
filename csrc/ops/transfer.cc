// to_device(x, device): x's value copied to another device (the node's own,
// i0). This file is the op's CPU side: a copy from a device to the host and
// its gradient back; the device side (host or same device to a device) is a
// device op (csrc/device/inputs_ops.h).
#include "device/dispatch.h"
#include "ops/common.h"

namespace dg {
namespace {

Dim same_dim(const OpContext&, const Node&, const Dim* xs) { return xs[0]; }

void to_device_fwd(OpContext& ctx, const Node&, const Tensor* xs, Tensor& y) {
  alloc(ctx, y);
  copy_to_host(xs[0], y.v);
}

void to_device_bwd(OpContext&, const Node&, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                   Tensor& dx) {
  if (dx.device == kCpuDevice) {
    dx.vec() += dy.vec();
    return;
  }
  device_ops(Device::from_id(dx.device).kind).add_from_host(dx.v, dy.v, dy.d.size());
}

}  // namespace

DG_DEFINE_OP(to_device, same_dim, to_device_fwd, to_device_bwd)

}  // namespace dg
