// The trainers' updates on a device, on parameters resident there
// (csrc/params/resident.h): one launch per parameter (or per set of touched
// lookup rows), no copies. Kernel bodies: csrc/kernels/trainers.h.
#pragma once
#include <algorithm>

#include "device/common.h"
#include "kernels/trainers.h"

namespace dg::dev {

inline uint32_t launch_size(size_t n) {
  if (n > 0xffffffffull) throw ValueError("trainer update on a device: " + std::to_string(n) +
                                          " elements, more than a launch covers (2^32 - 1)");
  return static_cast<uint32_t>(n);
}

template <class B>
void update(const UpdateLaunch& u) {
  using R = UpdateLaunch::Rule;
  const uint32_t n = launch_size(u.n);
  const float* h = u.h;
  auto run = [&](auto rule) {
    B::launch(n, kern::Update<decltype(rule)>{rule, u.w, u.g, u.s, u.stride, u.scale, u.rows, u.row_size});
  };
  switch (u.rule) {
    case R::sgd: run(kern::SgdRule{h[0]}); break;
    case R::momentum: run(kern::MomentumRule{h[0], h[1]}); break;
    case R::adagrad: run(kern::AdagradRule{h[0], h[1]}); break;
    case R::adadelta: run(kern::AdadeltaRule{h[1], h[2]}); break;
    case R::rmsprop: run(kern::RmsPropRule{h[0], h[1], h[2]}); break;
    case R::adam: run(kern::AdamRule{h[0], h[1], h[2], h[3], false}); break;
    case R::amsgrad: run(kern::AdamRule{h[0], h[1], h[2], h[3], true}); break;
    case R::fill: B::launch(n, kern::FillRows{u.w, h[0], u.rows, u.row_size}); break;
    case R::scale: B::launch(n, kern::ScaleRows{u.w, h[0], u.rows, u.row_size}); break;
  }
}

// Sum of g[e]^2 over the visited elements: per-block partial sums on the
// device, added on the host in double.
template <class B>
double squared_norm(const float* g, size_t n, const uint32_t* rows, uint32_t row_size) {
  constexpr uint32_t kMaxBlocks = 64;
  if (n == 0) return 0.0;
  const uint32_t grid = static_cast<uint32_t>(std::min<size_t>(kMaxBlocks, (n + 255) / 256));
  Allocator& a = device_allocator(B::device);
  float* partial = static_cast<float*>(a.allocate(sizeof(float) * grid));
  B::launch_blocks(grid, kern::SquaredNormPartial{g, partial, launch_size(n), rows, row_size});
  float host[kMaxBlocks];
  B::to_host(host, partial, sizeof(float) * grid);
  a.deallocate(partial, sizeof(float) * grid);
  double s = 0.0;
  for (uint32_t b = 0; b < grid; ++b) s += host[b];
  return s;
}

}  // namespace dg::dev
