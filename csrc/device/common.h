// Helpers shared by the device ops (csrc/device/*_ops.h), each templated on a
// backend B (emu::Backend, cuda::Backend) that supplies launch, launch_blocks,
// sgemm and the copies.
#pragma once
#include <vector>

#include "device/device_ops.h"
#include "kernels/common.h"
#include "kernels/elementwise.h"

namespace dg::dev {

inline kern::Shape shape_of(const Dim& d) {
  kern::Shape s;
  for (unsigned a = 0; a < d.nd && a < 4; ++a) s.d[a] = d.d[a];
  s.bd = d.bd;
  return s;
}

inline void alloc(DeviceCtx& ctx, Tensor& y) { y.v = ctx.alloc(y.d.size()); }

// The node's int attribute list (indices) copied to the device, in scratch memory.
template <class B>
const int32_t* ints_on_device(DeviceCtx& ctx, const Node& n) {
  auto* p = static_cast<int32_t*>(ctx.scratch->allocate(sizeof(int32_t) * (n.naux ? n.naux : 1)));
  B::to_device(p, ctx.ints + n.aux0, sizeof(int32_t) * n.naux);
  return p;
}

template <class B>
void fill(float* p, size_t n, float v) {
  B::launch(static_cast<uint32_t>(n), kern::Fill{p, v});
}

// dx += s * dy, both on the device.
template <class B>
void axpy(const float* x, float* y, size_t n, float s = 1.f) {
  B::launch(static_cast<uint32_t>(n), kern::Axpy{x, y, s});
}

// dst (device) += src (host), through a temporary device buffer.
template <class B>
void add_from_host(float* dst, const float* src, size_t n) {
  Allocator& a = device_allocator(B::device);
  float* tmp = static_cast<float*>(a.allocate(sizeof(float) * n));
  B::to_device(tmp, src, sizeof(float) * n);
  axpy<B>(tmp, dst, n);
  B::synchronize();
  a.deallocate(tmp, sizeof(float) * n);
}

// dst (device, m x n column-major) += U V^T, with U (m x k) and V (n x k)
// column-major in host memory: the factors go up, not the m x n product, and
// the product is one device sgemm (a replica applying sufficient factors).
template <class B>
void outer_from_host(float* dst, const float* u, const float* v, uint32_t m, uint32_t n, uint32_t k) {
  if (m == 0 || n == 0 || k == 0) return;
  const size_t nu = size_t(m) * k, nv = size_t(n) * k;
  Allocator& a = device_allocator(B::device);
  float* tmp = static_cast<float*>(a.allocate(sizeof(float) * (nu + nv)));
  B::to_device(tmp, u, sizeof(float) * nu);
  B::to_device(tmp + nu, v, sizeof(float) * nv);
  B::sgemm(false, true, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.f, tmp,
           static_cast<int>(m), tmp + nu, static_cast<int>(n), 1.f, dst, static_cast<int>(m));
  B::synchronize();
  a.deallocate(tmp, sizeof(float) * (nu + nv));
}

// A host copy of n device floats (a per-thread staging buffer, reused).
template <class B>
const float* download(const float* dev, size_t n) {
  thread_local std::vector<float> staging;
  staging.resize(n);
  B::to_host(staging.data(), dev, sizeof(float) * n);
  return staging.data();
}

// dst += src on the host (parameter gradients live there).
inline void host_add(float* dst, const float* src, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] += src[i];
}

// Backward of an op whose arguments carry no gradient (inputs, constants).
inline void no_backward(DeviceCtx&, const Node&, const Tensor*, const Tensor&, const Tensor&, unsigned, Tensor&) {}

}  // namespace dg::dev
