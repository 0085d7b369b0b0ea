// Autobatched groups split over the engine's threads by members
// (set_num_threads(n > 1); autobatch_threads.cc): forward's waves run in
// ComputationGraph::run_plan_threaded; backward calls these.
#pragma once
#include <mutex>

#include "core/pool.h"
#include "core/tensor.h"
#include "ops/node.h"
#include "ops/registry.h"

namespace dg {

struct OpContext;

// While alive: BLAS and Eigen products on one thread (restored after). The
// autobatching executor on the engine's threads holds one for all of its forward
// and backward: its parallelism is its own (pieces whose results do not depend on
// the thread count), and OpenBLAS's threads would round some products
// differently from one thread (weight gradients over many columns, measured).
class BlasOnOneThread {
 public:
  BlasOnOneThread();
  ~BlasOnOneThread();
  BlasOnOneThread(const BlasOnOneThread&) = delete;
  BlasOnOneThread& operator=(const BlasOnOneThread&) = delete;

 private:
  int blas_threads_, eigen_threads_;
};

// While alive: the graph's pools take a lock (tasks on the threads may allocate).
class SharedPools {
 public:
  SharedPools(MemoryPool& fx, MemoryPool& scratch) : fx_(fx), scratch_(scratch) {
    fx_.share(&lock_);
    scratch_.share(&lock_);
  }
  ~SharedPools() {
    fx_.share(nullptr);
    scratch_.share(nullptr);
  }
  SharedPools(const SharedPools&) = delete;
  SharedPools& operator=(const SharedPools&) = delete;

 private:
  MemoryPool& fx_;
  MemoryPool& scratch_;
  std::mutex lock_;
};

// Whether n's op treats each batch element on its own (op_table.def: DG_OP_SPLITS_BY_MEMBER).
bool splits_by_member(const Node& n);
// A group's work: values read and written, plus a product's multiply-adds.
double group_work(const Node& proto, const Tensor* xs);
// The work from which a group (or a weight's gradient GEMM) runs on the threads.
double pool_min_work();
// Whether arg_backward_by_members would split the group's batched arguments' gradients.
bool backward_splits(const Node& proto, const Tensor* xs, unsigned N);

// dx += the op's gradient for batched argument k of a group of N members (the
// group's prototype, arguments, output, output gradient, and dx the N members'
// gradients, or a scratch block, contiguous): on the threads, each writing its
// members' columns, when the op splits by member (op_table.def:
// DG_OP_SPLITS_BY_MEMBER) and the work pays; else one call on this thread.
void arg_backward_by_members(OpContext& ctx, const OpImpl& impl, const Node& proto, const Tensor* xs,
                             const Tensor& y, const Tensor& dy, unsigned k, Tensor& dx, unsigned N);

// C (m x n) += U (m x K) V (n x K)^T, column-major: a weight's deferred gradient
// terms (graph.cc, flush_outer_products). On the threads by columns of C when
// there are several, a BLAS is loaded and the work pays; else one gemm().
void outer_products_by_columns(float* C, const float* U, const float* V, unsigned m, unsigned n, unsigned K);

}  // namespace dg
