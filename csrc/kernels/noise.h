// Kernel bodies of dropout (csrc/ops/noise.cc) with a counter-based RNG:
// the random word for unit k of a draw is a hash of (seed, counter + k), so a
// GPU thread needs no RNG state and the emulated device draws exactly the
// numbers a GPU draws. (The CPU engine's dropout uses the graph's mt19937, so
// its masks differ from the device's; both keep a unit with probability 1-p.)
#pragma once
#include "kernels/common.h"

namespace dg::kern {

// Philox-style mixing: four rounds of 32x32->64-bit multiplies and key
// additions over (counter, seed). Not Philox4x32-10 itself (one output word,
// fewer rounds), but the same construction: a bijective mix of the counter
// under a key, good enough for dropout masks.
DG_HD inline uint32_t counter_hash(uint64_t seed, uint64_t counter) {
  uint32_t lo = static_cast<uint32_t>(counter), hi = static_cast<uint32_t>(counter >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 6; ++round) {
    uint64_t p = static_cast<uint64_t>(0xD2511F53u) * lo;
    uint32_t new_lo = static_cast<uint32_t>(p >> 32) ^ hi ^ k0;
    hi = static_cast<uint32_t>(p);
    lo = new_lo;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
    hi ^= k1;
  }
  return lo ^ hi;
}

// mask[k] = 1/(1-p) with probability 1-p, else 0; y = x * mask.
struct DropoutForward {
  const float* x;
  float* y;
  float* mask;
  uint64_t seed, counter;
  uint32_t threshold;  // keep when the word is below (1-p) * 2^32 (saturated)
  float keep_scale;
  DG_HD void operator()(uint32_t k) const {
    float m = counter_hash(seed, counter + k) < threshold ? keep_scale : 0.f;
    mask[k] = m;
    y[k] = x[k] * m;
  }
};

// dx += dy * mask
struct MaskBackward {
  const float* dy;
  const float* mask;
  float* dx;
  DG_HD void operator()(uint32_t k) const { dx[k] += dy[k] * mask[k]; }
};

}  // namespace dg::kern
