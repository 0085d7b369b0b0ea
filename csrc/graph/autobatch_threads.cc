// The autobatching executor on the engine's threads (set_num_threads(n > 1)).
//
// Forward: the plan (autobatch.cc) runs level by level: an item's level is one
// more than that of the last item it reads from, so the items of a level read
// none of each other's outputs (a cell's gate products under different
// weights, the two directions of a BiLSTM). In a level, every item runs on
// this thread in plan order except, when the level's work pays for the
// hand-off, its batched groups on the CPU: those are gathered here, then run at
// once on the pool (a wave), BLAS inside them on one thread, the graph's pools
// taking a lock. A large group of an op that
// treats each batch element on its own (op_table.def: DG_OP_SPLITS_BY_MEMBER)
// is split into pieces of its members, its output block placed first and each
// piece writing its own members' columns, so even a level of one group uses
// every thread. Backward splits the same groups' batched arguments' gradients
// the same way (arg_backward_by_members), and a weight's deferred gradient
// GEMM by columns (outer_products_by_columns); a shared argument's gradient,
// a sum over the group, stays one call; independent groups too small to split
// run in waves too (autobatch_backward_threads.cc).
//
// Bit-identical to one thread: the groups and their order are the plan's;
// items that may draw random numbers keep their plan order; a piece computes
// its columns exactly as the whole call would: pieces are whole multiples of
// kPieceMembers members (every piece of a block aligned as the pools align
// blocks, MemoryPool::kAlign, starts so aligned, so Eigen's vector loops cover
// the same elements as for the whole, and every product piece has >= 16
// columns, the kernel path gemm.cc gives the whole), products split only with a BLAS loaded (whose result for a column
// does not depend on the others), never over the summed dimension.
#include "graph/autobatch_threads.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <mutex>

#include <Eigen/Core>

#include "core/gemm.h"
#include "core/thread_pool.h"
#include "graph/autobatch_agenda.h"
#include "graph/autobatch_profile.h"
#include "graph/graph.h"

namespace dg {

namespace {

// Ops whose groups stay on the calling thread (op_table.def: DG_OP_DRAWS_RANDOM).
bool draws_random(const Node& n) {
#define DG_OP_DRAWS_RANDOM(name, when) \
  if (n.op == OpId::name && (when)) return true;
#include "ops/op_table.def"
#undef DG_OP_DRAWS_RANDOM
  return false;
}

bool is_product(OpId op) { return op == OpId::matmul || op == OpId::affine_transform; }

// A piece's members: a multiple of this (see the file's comment).
constexpr unsigned kPieceMembers = 16;
// ... so that a piece of a pool block starts where a pool block would (MemoryPool::kAlign),
// whatever a member's size.
static_assert(kPieceMembers * sizeof(float) % MemoryPool::kAlign == 0, "pieces must start aligned as pool blocks");

// A group is split (or a weight's gradient GEMM), and a wave of groups of a level
// runs on the threads, only from this much work (values read and written, plus
// the multiply-adds of a product; a wave: its groups' together). A guess
// for a quiet machine: on the shared, loaded 2-core box no size paid (the second
// core was rarely free; benchmarks/README.md, issue 26, fifth pass).
double g_pool_min_work = 65536;

// The work of one call of n's op with output `out` and argument k of shape arg(k).
template <class ArgDim>
double op_work(const Node& n, const Dim& out, ArgDim arg) {
  double work = double(out.size());
  for (unsigned k = 0; k < n.nargs; ++k) work += double(arg(k).size());
  if (n.op == OpId::matmul) work += double(out.size()) * arg(0).cols();
  if (n.op == OpId::affine_transform)
    for (unsigned k = 1; k + 1 < n.nargs; k += 2) work += double(out.size()) * arg(k).cols();
  return work;
}

// OpenBLAS's small-matrix kernels (SkylakeX builds take them for products of at
// most 100^3 multiply-adds, some shapes only) round differently from its large
// ones: a product is split only into pieces above that size, so that the whole
// and every piece take the large kernels.
constexpr double kBlasSmallMacs = 1e6;

// The multiply-adds per member of a product group's smallest GEMM (0: not a product).
// cols(k): the columns of argument k (a weight: its inner dimension).
template <class Cols>
double product_macs_per_member(const Node& n, Cols cols) {
  const double out = double(n.dim.batch_size());
  if (n.op == OpId::matmul) return out * cols(0);
  double least = 0;
  for (unsigned k = 1; k + 1 < n.nargs; k += 2) {
    const double macs = out * cols(k);
    if (least == 0 || macs < least) least = macs;
  }
  return least;
}

// The most pieces (whole multiples of kPieceMembers, see piece_bounds) that N
// members or columns split into with every piece above kBlasSmallMacs, at
// `macs` multiply-adds each.
unsigned pieces_above_small(unsigned N, double macs) {
  const unsigned units = N / kPieceMembers;
  const double least_units = std::floor(kBlasSmallMacs / (macs * kPieceMembers)) + 1;
  return least_units > units ? 0u : unsigned(units / least_units);
}

// How many pieces a group of N members may be split into (1: not split).
template <class Cols>
unsigned max_pieces(const Node& n, unsigned N, Cols cols) {
  if (n.device != kCpuDevice || N < 2 * kPieceMembers || !splits_by_member(n)) return 1;
  unsigned most = N / kPieceMembers;
  if (is_product(n.op)) {
    if (!blas::loaded()) return 1;  // Eigen's blocking may depend on the column count
    most = std::min(most, pieces_above_small(N, product_macs_per_member(n, cols)));
  }
  return std::max(most, 1u);
}

// Where a pool block starts: a piece of one so aligned is too (see the file's comment).
bool pool_aligned(const float* p) { return reinterpret_cast<uintptr_t>(p) % MemoryPool::kAlign == 0; }

// Members [b0, b1) of a group of N: a tensor with a batch (N times a member's) narrowed.
Tensor narrow(const Tensor& t, unsigned N, unsigned b0, unsigned b1) {
  Tensor r = t;
  const unsigned per = t.d.bd / N;
  r.d.bd = (b1 - b0) * per;
  r.v = t.v + size_t(b0) * per * t.d.batch_size();
  return r;
}

// The piece's prototype and arguments (shared ones, batch 1, whole).
void narrow_group(const Node& proto, const Tensor* xs, unsigned N, unsigned b0, unsigned b1, Node& p,
                  std::vector<Tensor>& pxs) {
  p = proto;
  p.dim.bd = (b1 - b0) * (proto.dim.bd / N);
  pxs.resize(proto.nargs);
  for (unsigned k = 0; k < proto.nargs; ++k)
    pxs[k] = xs[k].d.bd == 1 && proto.dim.bd > 1 ? xs[k] : narrow(xs[k], N, b0, b1);
}

// Piece q of `pieces` over N members: whole multiples of kPieceMembers, the
// remainder in the last.
void piece_bounds(unsigned N, unsigned pieces, unsigned q, unsigned& b0, unsigned& b1) {
  const unsigned units = N / kPieceMembers;
  b0 = kPieceMembers * (units * q / pieces);
  b1 = q + 1 == pieces ? N : kPieceMembers * (units * (q + 1) / pieces);
}

// A wave's task: a whole group (pieces == 0) or piece q of `pieces` of one.
struct Piece {
  uint32_t group;
  unsigned q, pieces;
};

}  // namespace

BlasOnOneThread::BlasOnOneThread() : blas_threads_(blas::threads()), eigen_threads_(Eigen::nbThreads()) {
  if (blas_threads_ > 1) blas::set_threads(1);
  if (eigen_threads_ > 1) Eigen::setNbThreads(1);
}

BlasOnOneThread::~BlasOnOneThread() {
  if (blas_threads_ > 1) blas::set_threads(blas_threads_);
  if (eigen_threads_ > 1) Eigen::setNbThreads(eigen_threads_);
}

bool splits_by_member(const Node& n) {
#define DG_OP_SPLITS_BY_MEMBER(name, when) \
  if (n.op == OpId::name && (when)) return true;
#include "ops/op_table.def"
#undef DG_OP_SPLITS_BY_MEMBER
  return false;
}

double group_work(const Node& proto, const Tensor* xs) {
  return op_work(proto, proto.dim, [xs](unsigned k) -> const Dim& { return xs[k].d; });
}

double pool_min_work() { return g_pool_min_work; }

bool backward_splits(const Node& proto, const Tensor* xs, unsigned N) {
  const unsigned T = static_cast<unsigned>(engine_threads());
  return T > 1 && max_pieces(proto, N, [&](unsigned j) { return xs[j].d.cols(); }) > 1 &&
         group_work(proto, xs) >= g_pool_min_work;
}

double autobatch_pool_min_work(double work) {
  const double before = g_pool_min_work;
  if (work >= 0) g_pool_min_work = work;
  return before;
}

void arg_backward_by_members(OpContext& ctx, const OpImpl& impl, const Node& proto, const Tensor* xs,
                             const Tensor& y, const Tensor& dy, unsigned k, Tensor& dx, unsigned N) {
  const unsigned T = static_cast<unsigned>(engine_threads());
  unsigned pieces = T > 1 ? std::min(max_pieces(proto, N, [&](unsigned j) { return xs[j].d.cols(); }), T) : 1;
  if (pieces > 1 && (!pool_aligned(dx.v) || dx.d.bd % N || group_work(proto, xs) < g_pool_min_work)) pieces = 1;
  if (pieces == 1) {
    impl.backward(ctx, proto, xs, y, dy, k, dx);
    return;
  }
  BlasOnOneThread one;
  auto task = [&](size_t q) {
    thread_local std::vector<Tensor> pxs;
    Node p;
    unsigned b0, b1;
    piece_bounds(N, pieces, unsigned(q), b0, b1);
    narrow_group(proto, xs, N, b0, b1, p, pxs);
    Tensor py = narrow(y, N, b0, b1), pdy = narrow(dy, N, b0, b1), pdx = narrow(dx, N, b0, b1);
    impl.backward(ctx, p, pxs.data(), py, pdy, k, pdx);
  };
  parallel_run(pieces, task);
  ++autobatch_profile().pieces_backward;
}

void outer_products_by_columns(float* C, const float* U, const float* V, unsigned m, unsigned n, unsigned K) {
  const unsigned T = static_cast<unsigned>(engine_threads());
  const double work = double(m) * n * K;
  if (T < 2 || m < 2 || n < 2 * kPieceMembers || K == 0 || !blas::loaded() || work < g_pool_min_work) {
    gemm(C, U, false, V, true, m, n, K);
    return;
  }
  // (every piece above OpenBLAS's small-matrix size, as the whole: see kBlasSmallMacs)
  const unsigned pieces = std::min(T, pieces_above_small(n, double(m) * K));
  if (pieces < 2) {
    gemm(C, U, false, V, true, m, n, K);
    return;
  }
  BlasOnOneThread one;
  auto task = [&](size_t q) {
    unsigned j0, j1;
    piece_bounds(n, pieces, unsigned(q), j0, j1);
    blas::gemm_nt(C + size_t(j0) * m, m, U, m, V + j0, n, m, j1 - j0, K);
  };
  parallel_run(pieces, task);
  ++autobatch_profile().pieces_outer;
}

void ComputationGraph::run_plan_threaded(uint32_t begin, uint32_t end, PhaseClock& clock) {
  AutobatchScratch& S = autobatch_scratch();
  AutobatchProfile& prof = autobatch_profile();
  const auto& plan = S.plan;
  const uint32_t items = static_cast<uint32_t>(plan.size());
  const unsigned T = static_cast<unsigned>(engine_threads());
  BlasOnOneThread one;  // parallel here, by groups and pieces (a multi-thread BLAS's results may differ)
  PoolHot hot;          // the waves come back to back: the pool polls for them rather than sleeping
  auto member0 = [&](uint32_t i) -> const Node& { return nodes[S.plan_nodes[plan[i].first]]; };
  // A batched CPU group that may join a wave, and its work (0: it may not).
  auto wave_work = [&](uint32_t i) -> double {
    const AutobatchScratch::PlanItem& it = plan[i];
    if (it.sets || it.count < 2) return 0;
    const Node& n = member0(i);
    if (n.device != kCpuDevice || draws_random(n)) return 0;
    const uint32_t* a = args(n);
    return it.count * op_work(n, n.dim, [&](unsigned k) -> const Dim& { return nodes[a[k]].dim; });
  };
  // Levels: an item runs one level after the last of the items it reads from.
  // Items that may draw random numbers (lone nodes, DG_OP_DRAWS_RANDOM groups)
  // also keep their plan order: none is on a lower level than the one before.
  S.item_of.resize(end - begin);
  S.level.assign(items, 0);
  uint32_t levels = 1, random_level = 0;
  for (uint32_t i = 0; i < items; ++i) {
    const uint32_t* members = S.plan_nodes.data() + plan[i].first;
    uint32_t l = 0;
    for (uint32_t m = 0; m < plan[i].count; ++m) {
      const Node& n = nodes[members[m]];
      const uint32_t* a = args(n);
      for (unsigned k = 0; k < n.nargs; ++k)
        if (a[k] >= begin) l = std::max(l, S.level[S.item_of[a[k] - begin]] + 1);
    }
    if (plan[i].count == 1 || draws_random(member0(i))) random_level = l = std::max(l, random_level);
    S.level[i] = l;
    levels = std::max(levels, l + 1);
    for (uint32_t m = 0; m < plan[i].count; ++m) S.item_of[members[m] - begin] = i;
  }
  // The items by level, in plan order within a level (a counting sort).
  S.level_end.assign(levels + 1, 0);
  for (uint32_t i = 0; i < items; ++i) ++S.level_end[S.level[i] + 1];
  for (uint32_t l = 0; l < levels; ++l) S.level_end[l + 1] += S.level_end[l];
  S.by_level.resize(items);
  {
    std::vector<uint32_t>& fill = S.pooled;
    fill.assign(S.level_end.begin(), S.level_end.end() - 1);
    for (uint32_t i = 0; i < items; ++i) S.by_level[fill[S.level[i]]++] = i;
  }
  clock.charge(prof.fwd_setup);
  std::vector<uint32_t>& pooled = S.pooled;  // a level's wave items, then their groups
  // This thread's (the tasks below name them through these references: a
  // thread_local named in a task would be the worker's own).
  thread_local std::vector<double> works_here;
  thread_local std::vector<Piece> tasks_here;
  thread_local std::vector<unsigned> pieces_here;
  thread_local std::vector<char> splittable_here;
  thread_local std::vector<uint32_t> order_here;
  std::vector<double>& works = works_here;
  std::vector<Piece>& tasks = tasks_here;
  std::vector<unsigned>& pieces_of = pieces_here;
  std::vector<char>& splittable = splittable_here;
  std::vector<uint32_t>& order = order_here;
  for (uint32_t l = 0; l < levels; ++l) {
    const uint32_t* lv = S.by_level.data() + S.level_end[l];
    const uint32_t n = S.level_end[l + 1] - S.level_end[l];
    pooled.clear();
    works.clear();
    double level_work = 0;
    bool splits = false;
    for (uint32_t q = 0; q < n; ++q) {
      const double w = wave_work(lv[q]);
      if (w <= 0) continue;
      pooled.push_back(lv[q]);
      works.push_back(w);
      level_work += w;
      const Node& m0 = member0(lv[q]);
      splits = splits || (w >= g_pool_min_work &&
                          max_pieces(m0, plan[lv[q]].count, [&](unsigned k) { return nodes[args(m0)[k]].dim.cols(); }) > 1);
    }
    // A wave: two or more groups, or one to split, when the level's work pays for the hand-off.
    if ((pooled.size() < 2 && !splits) || level_work < g_pool_min_work) pooled.clear();
    // In plan order: the others run, the wave's groups are gathered.
    size_t p = 0;
    for (uint32_t q = 0; q < n; ++q) {
      const uint32_t i = lv[q];
      if (p < pooled.size() && pooled[p] == i) {
        Group& grp = groups_[S.item_group[i]];
        gather_group(grp, group_nodes_.data() + grp.first, grp.count);
        pooled[p++] = S.item_group[i];
        clock.charge(prof.fwd_gather);
      } else {
        run_plan_item(i, clock);
      }
    }
    if (pooled.empty()) continue;
    // The tasks: a splittable group in pieces by its share of the level's work
    // (a level of one group: one piece per thread); then, while the tasks do not
    // divide evenly among the threads, the largest whole splittable group in two
    // (five like products on two threads: 2.5 each rather than 3 and 2). Largest
    // tasks first. A split group's output block is placed here.
    pieces_of.assign(pooled.size(), 1);
    splittable.assign(pooled.size(), 0);
    unsigned total = 0;
    for (size_t q = 0; q < pooled.size(); ++q) {
      Group& grp = groups_[pooled[q]];
      const unsigned most = works[q] < g_pool_min_work ? 1u : std::min<unsigned>(
          max_pieces(grp.proto, grp.count, [&](unsigned k) { return grp.xs[k].d.cols(); }), T);
      splittable[q] = most > 1;
      if (most > 1) pieces_of[q] = std::clamp<unsigned>(unsigned(std::lround(works[q] * T / level_work)), 1u, most);
      total += pieces_of[q];
    }
    while (total % T) {
      size_t best = pooled.size();
      for (size_t q = 0; q < pooled.size(); ++q)
        if (pieces_of[q] == 1 && splittable[q] && (best == pooled.size() || works[q] > works[best])) best = q;
      if (best == pooled.size()) break;
      pieces_of[best] = 2;
      ++total;
    }
    order.resize(pooled.size());
    for (size_t q = 0; q < pooled.size(); ++q) order[q] = uint32_t(q);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) {
      return works[x] / pieces_of[x] > works[y] / pieces_of[y];
    });
    tasks.clear();
    for (uint32_t q : order) {
      Group& grp = groups_[pooled[q]];
      const unsigned pieces = pieces_of[q];
      if (pieces == 1) {
        tasks.push_back({pooled[q], 0, 0});
        continue;
      }
      grp.y.d = grp.proto.dim;
      if (!grp.y.v) grp.y.v = fx_pool.allocate_floats(grp.y.d.size());  // else placed for its reader (autobatch.cc)
      grp.y.device = kCpuDevice;
      for (unsigned k = 0; k < pieces; ++k) tasks.push_back({pooled[q], k, pieces});
      prof.pieces_forward += pieces;
    }
    {
      SharedPools shared(fx_pool, scratch_pool);
      auto task = [&](size_t t) {
        const Piece& pc = tasks[t];
        Group& grp = groups_[pc.group];
        if (pc.q == 0) autobatch_fault_check(grp.count);
        if (pc.pieces == 0) {
          group_forward(grp.proto, grp.xs.data(), grp.y);
          return;
        }
        thread_local std::vector<Tensor> pxs;
        Node proto;
        unsigned b0, b1;
        piece_bounds(grp.count, pc.pieces, pc.q, b0, b1);
        narrow_group(grp.proto, grp.xs.data(), grp.count, b0, b1, proto, pxs);
        Tensor py = narrow(grp.y, grp.count, b0, b1);
        op_impl(proto.op).forward(*this, proto, pxs.data(), py);
      };
      parallel_run(tasks.size(), task);
    }
    prof.groups_pooled += pooled.size();
    ++prof.waves_pooled;
    clock.charge(prof.fwd_kernel);
    for (uint32_t g : pooled) {
      const Group& grp = groups_[g];
      slice_group_outputs(grp, group_nodes_.data() + grp.first, grp.count);
    }
    clock.charge(prof.fwd_release);
  }
}

}  // namespace dg
