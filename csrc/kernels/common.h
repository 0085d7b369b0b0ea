// What every kernel body shares: the DG_HD qualifier, the shape of a tensor as
// kernels see it, and a block-wide reduction for block-cooperative kernels.
//
// A kernel body is a functor written once as __host__ __device__ code:
//   - element-wise kernels:    DG_HD void operator()(unsigned i) const   (one index of [0, n))
//   - block-cooperative ones:  template <class Block> DG_HD void operator()(Block& blk) const
//     where blk has block, thread, block_dim, grid_dim, a float* shared array
//     of block_dim floats, and sync() (a barrier for the block's threads).
// nvcc launches them through csrc/cuda/launch.cuh; the emulated device runs
// them on the host through csrc/emu/emu.h (a grid loop; threads and a
// barrier only for block-cooperative kernels).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define DG_HD __host__ __device__
#define DG_DEVICE_CODE 1
#else
#define DG_HD
#endif

namespace dg::kern {

// A tensor's shape as kernels see it: up to four axes (column-major) and a batch.
struct Shape {
  uint32_t d[4] = {1, 1, 1, 1};
  uint32_t bd = 1;
  DG_HD uint32_t batch_size() const { return d[0] * d[1] * d[2] * d[3]; }
  DG_HD uint32_t size() const { return batch_size() * bd; }
};

// Flat index into x for flat index k of y, where x broadcasts to y (NumPy
// rules: an axis of length 1, or a batch of 1, stretches).
DG_HD inline uint32_t broadcast_index(const Shape& x, const Shape& y, uint32_t k) {
  const uint32_t ys = y.batch_size();
  uint32_t b = k / ys, r = k - b * ys;
  uint32_t idx = 0, xstride = 1;
  for (int a = 0; a < 4; ++a) {
    uint32_t c = r % y.d[a];
    r /= y.d[a];
    if (x.d[a] != 1) idx += c * xstride;
    xstride *= x.d[a];
  }
  if (x.bd != 1) idx += b * x.batch_size();
  return idx;
}

// Sum (or max) of v over the block's threads; every thread gets the result.
// block_dim must be a power of two (the launchers guarantee it).
struct SumOp {
  DG_HD float operator()(float a, float b) const { return a + b; }
};
struct MaxOp {
  DG_HD float operator()(float a, float b) const { return a > b ? a : b; }
};
template <class Block, class Op>
DG_HD float block_reduce(Block& blk, float v, Op op) {
  blk.shared[blk.thread] = v;
  blk.sync();
  for (unsigned s = blk.block_dim / 2; s > 0; s >>= 1) {
    if (blk.thread < s) blk.shared[blk.thread] = op(blk.shared[blk.thread], blk.shared[blk.thread + s]);
    blk.sync();
  }
  float r = blk.shared[0];
  blk.sync();  // the shared array may be reused right after
  return r;
}

DG_HD inline float neg_inf() { return -INFINITY; }

// The batch elements of y whose gradients reach batch element xb of an
// argument with x_batches batch elements: all of y's when the argument has
// batch 1 and y does not (it was broadcast), else xb alone.
struct BatchRange {
  uint32_t lo, hi;
};
DG_HD inline BatchRange grad_batches(uint32_t xb, uint32_t x_batches, uint32_t y_batches) {
  if (x_batches == 1 && y_batches != 1) return {0, y_batches};
  return {xb, xb + 1};
}

// *p += v, safe when several threads add to the same element (a scatter-add
// with repeated indices): atomicAdd on a GPU, a compare-and-swap loop on the
// host (EMU:0 runs its grid sequentially, but the kernels must not rely on it).
DG_HD inline void atomic_add(float* p, float v) {
#if defined(__CUDA_ARCH__)
  atomicAdd(p, v);
#else
  uint32_t* bits = reinterpret_cast<uint32_t*>(p);
  uint32_t old = __atomic_load_n(bits, __ATOMIC_RELAXED);
  for (;;) {
    float f;
    std::memcpy(&f, &old, sizeof f);
    f += v;
    uint32_t next;
    std::memcpy(&next, &f, sizeof next);
    if (__atomic_compare_exchange_n(bits, &old, next, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return;
  }
#endif
}

}  // namespace dg::kern
