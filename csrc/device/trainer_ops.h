// The trainers' updates on a device (kernel bodies: csrc/kernels/trainers.h).
// Parameters live in host memory, so an update stages the values, gradient
// and optimiser state through device memory: the arithmetic is the device's,
// as it will be once parameters stay on the device.
#pragma once
#include "device/common.h"
#include "kernels/trainers.h"

namespace dg::dev {

// n floats at each of `host` copied into one device buffer, updated by
// `run(device pointers)`, and the first `writeback` of them copied back.
template <class B, class Run>
void staged_update(float* const* host, unsigned count, unsigned writeback, size_t n, Run run) {
  Allocator& a = device_allocator(B::device);
  const size_t bytes = sizeof(float) * n;
  float* buf = static_cast<float*>(a.allocate(bytes * count));
  float* dev[4];
  for (unsigned k = 0; k < count; ++k) {
    dev[k] = buf + k * n;
    B::to_device(dev[k], host[k], bytes);
  }
  run(dev);
  for (unsigned k = 0; k < writeback; ++k) B::to_host(host[k], dev[k], bytes);
  a.deallocate(buf, bytes * count);
}

template <class B>
void sgd_update(float* w, const float* g, size_t n, float lr, float scale) {
  float* host[2] = {w, const_cast<float*>(g)};
  staged_update<B>(host, 2, 1, n, [&](float** d) { B::launch(n, kern::SgdUpdate{d[0], d[1], lr, scale}); });
}

template <class B>
void adam_update(float* w, const float* g, float* m, float* v, size_t n, float lr_t, float scale, float b1, float b2,
                 float eps) {
  // Written back: w, m, v (the gradient is read only).
  float* host[4] = {w, m, v, const_cast<float*>(g)};
  staged_update<B>(host, 4, 3, n, [&](float** d) {
    B::launch(n, kern::AdamUpdate{d[0], d[3], d[1], d[2], lr_t, scale, b1, b2, eps});
  });
}

}  // namespace dg::dev
