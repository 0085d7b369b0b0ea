// Kernel bodies of the random ops (csrc/ops/noise.cc: noise, dropout_dim,
// dropout_batch, block_dropout; csrc/ops/inputs.cc: random_normal,
// random_uniform, random_bernoulli, random_gumbel), drawn from the
// counter-based hash of kernels/noise.h: the word for draw k is
// counter_hash(seed, counter + k), so each thread draws without state and
// EMU:0 draws the numbers a GPU draws. The distributions are the CPU ops';
// the numbers differ (the CPU engine draws from the graph's mt19937).
#pragma once
#include "kernels/common.h"
#include "kernels/noise.h"

namespace dg::kern {

// A uniform float in [0, 1) from the top 24 bits of a word (exact in a float).
DG_HD inline float unit_uniform(uint32_t w) { return static_cast<float>(w >> 8) * (1.f / 16777216.f); }

// A standard normal for draw k (Box-Muller on the words 2k and 2k + 1).
DG_HD inline float standard_normal(uint64_t seed, uint64_t counter, uint32_t k) {
  const float u1 = unit_uniform(counter_hash(seed, counter + 2ull * k)) + (1.f / 16777216.f);  // (0, 1]
  const float u2 = unit_uniform(counter_hash(seed, counter + 2ull * k + 1));
  return sqrtf(-2.f * logf(u1)) * cosf(6.28318531f * u2);
}

// noise: y = x + stddev * N(0, 1)
struct GaussianNoiseForward {
  const float* x;
  float* y;
  uint64_t seed, counter;
  float stddev;
  DG_HD void operator()(uint32_t k) const { y[k] = x[k] + stddev * standard_normal(seed, counter, k); }
};

// The random inputs: what random_normal, random_uniform, random_bernoulli and random_gumbel draw.
enum class Draw : uint32_t { normal, uniform, bernoulli, gumbel };
struct RandomFill {
  float* y;
  uint64_t seed, counter;
  Draw kind;
  float a, b;  // (mean, stddev), (left, right), (p, scale), (mu, beta)
  DG_HD void operator()(uint32_t k) const {
    switch (kind) {
      case Draw::normal: y[k] = a + b * standard_normal(seed, counter, k); break;
      case Draw::uniform: y[k] = a + (b - a) * unit_uniform(counter_hash(seed, counter + k)); break;
      case Draw::bernoulli: y[k] = unit_uniform(counter_hash(seed, counter + k)) < a ? b : 0.f; break;
      default: {
        float u = unit_uniform(counter_hash(seed, counter + k));
        if (u <= 0.f) u = 1e-20f;
        y[k] = a - b * logf(-logf(u));
      }
    }
  }
};

// The mask of a dropout variant: n values, each 1/(1-p) with probability 1-p,
// else 0 (as the CPU op: (0 or 1) * 1/(1-p), so p = 1 gives NaN; block_dropout
// zeroes it then).
struct DrawMask {
  float* mask;
  uint64_t seed, counter;
  uint32_t threshold;  // keep when the word is below (1-p) * 2^32
  float keep_scale;
  bool zeros;  // block_dropout with p = 1
  DG_HD void operator()(uint32_t k) const {
    mask[k] = zeros ? 0.f : (counter_hash(seed, counter + k) < threshold ? 1.f : 0.f) * keep_scale;
  }
};

// Which mask value unit k uses: x is `groups` groups of `len` runs of `inner`
// units, and run j of group o uses mask[o * inner .. (o + 1) * inner).
struct MaskLayout {
  uint32_t groups, len, inner;
  DG_HD uint32_t of(uint32_t k) const { return k / (len * inner) * inner + k % inner; }
};

// y = x * mask[layout]  (or dx += dy * mask[layout] when acc)
struct ApplyMask {
  const float* in;
  const float* mask;
  float* out;
  MaskLayout L;
  bool acc;
  DG_HD void operator()(uint32_t k) const {
    const float v = in[k] * mask[L.of(k)];
    if (acc) out[k] += v;
    else out[k] = v;
  }
};

}  // namespace dg::kern
