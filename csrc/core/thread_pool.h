// The engine's threads: one process-wide pool, sized by set_num_threads(n)
// (n - 1 workers; the calling thread is the n-th), made when first needed.
// With n == 1 there are no threads and parallel_run runs the tasks in order.
// A child process forked after the pool started gets a new pool the first
// time it needs one (the parent's threads do not exist in the child).
//
// Hand-off: a worker that finished a job spins a short while (kSpinNs in
// thread_pool.cc; longer, yielding its core, while a PoolHot is alive) on the job
// counter before it sleeps on a condition variable, so the back-to-back jobs of
// an autobatched graph (one per level or group, up to a few hundred microseconds
// apart) start without a wake-up; the caller wakes
// sleepers only when there are any. A job is a function pointer and a context
// pointer: nothing is allocated per job.
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace dg {

int engine_threads();
void set_engine_threads(int n);  // n >= 1; stops the old workers, starts none yet

// Runs task(ctx, 0) ... task(ctx, n - 1), on the pool's threads and the
// caller's, and returns when all have finished. Tasks must not call
// parallel_run. When tasks throw, the one of the lowest index is rethrown
// (after all have finished).
using TaskFn = void (*)(void* ctx, size_t i);
void parallel_run(size_t n, TaskFn task, void* ctx);

// The same for any callable f(size_t) (a lambda), without copying it.
template <class F>
void parallel_run(size_t n, F&& f) {
  using D = std::remove_reference_t<F>;
  parallel_run(n, [](void* c, size_t i) { (*static_cast<D*>(c))(i); }, const_cast<void*>(static_cast<const void*>(&f)));
}

// While alive: jobs are expected back to back (an autobatched forward or backward
// on the pool), so the pool's threads and a caller waiting for them poll longer
// before they sleep (thread_pool.cc: kHotSpinNs), yielding their cores as they poll.
class PoolHot {
 public:
  PoolHot();
  ~PoolHot();
  PoolHot(const PoolHot&) = delete;
  PoolHot& operator=(const PoolHot&) = delete;
};

// For the micro-benchmark of the hand-off (benchmarks/threads_probe.py handoff):
// `jobs` empty jobs of `tasks` tasks each, back to back; returns ns per job.
double pool_handoff_ns(uint32_t jobs, uint32_t tasks);
// How many times the pool's workers have gone to sleep (ran out of spinning) since
// the pool started (0 without a pool): back-to-back jobs should find them awake.
uint64_t pool_worker_sleeps();
// Wall-clock nanoseconds the calling threads have spent in parallel_run on the
// pool (jobs of two or more tasks with two or more threads), since the process
// started: the rest of a run at n threads is what ran on one thread (Amdahl).
uint64_t pool_parallel_ns();

}  // namespace dg
