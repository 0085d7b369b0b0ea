// OpContext: everything an op may touch besides its node and its arguments.
//
// Ops see this narrow view, never the ComputationGraph: the memory they
// allocate from, the RNG, the node attributes kept out of line, the backward
// pass's serial, the sink for deferred weight-gradient products, and the
// device the graph runs on. The graph *is* its context (it derives from it):
// the context is built once with the graph, passing it to an op costs
// nothing, and the graph's own code keeps naming these members directly.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "core/device.h"
#include "core/pool.h"
#include "core/tensor.h"

namespace dg {

struct OpContext {
  OpContext() = default;
  OpContext(const OpContext&) = delete;
  OpContext& operator=(const OpContext&) = delete;
  virtual ~OpContext() = default;

  Device device;                     // where values live and kernels run
  MemoryPool fx_pool{1 << 20};       // forward values
  MemoryPool scratch_pool{1 << 16};  // per-node memory kept from forward to backward
  std::mt19937 rng{42};
  // The counter-based stream of kernels/noise.h: its key (device dropout and
  // noise, LSTM weight noise everywhere) and the next counter of the CPU ops
  // that draw from it, so a CPU graph draws the numbers a device graph draws
  // for the same seed. (The device ops' counter lives in the device memory.)
  uint64_t device_seed = 42;
  uint64_t cpu_counter = 0;
  std::vector<int32_t> int_data;     // variable-length int attributes (indices, axes): Node::aux0/naux
  std::vector<float> float_data;     // input values copied at construction: Node::aux0
  // Counts backward passes: with a node's address it identifies one node's
  // backward within one pass, so an op can share work between its arguments.
  uint64_t backward_serial = 0;

  // dA += u v^T (u m x k, v n x k, one column per batch element) for the
  // gradient being accumulated now. The graph may defer the term and apply all
  // those aimed at one weight as one wide GEMM (ComputationGraph's override).
  virtual void add_outer_product(Tensor& dA, const Tensor& u, const Tensor& v) = 0;

  // A's transpose (A one rows x cols matrix, batch 1, in host memory), stored
  // column-major (cols x rows), or nullptr. The autobatched backward keeps one
  // copy per matrix per backward pass, so that each group's A^T dY runs as a
  // plain product: a BLAS packs the transposed A again for every call.
  virtual const float* transposed(const Tensor&) { return nullptr; }
};

}  // namespace dg
