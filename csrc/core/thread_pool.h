// The engine's threads: one process-wide pool, sized by set_num_threads(n)
// (n - 1 workers; the calling thread is the n-th), made when first needed.
// With n == 1 there are no threads and parallel_run runs the tasks in order.
// A child process forked after the pool started gets a new pool the first
// time it needs one (the parent's threads do not exist in the child).
#pragma once
#include <cstddef>
#include <functional>

namespace dg {

int engine_threads();
void set_engine_threads(int n);  // n >= 1; stops the old workers, starts none yet

// Runs task(0) ... task(n - 1), on the pool's threads and the caller's, and
// returns when all have finished. Tasks must not call parallel_run. When tasks
// throw, the one of the lowest index is rethrown (after all have finished).
void parallel_run(size_t n, const std::function<void(size_t)>& task);

}  // namespace dg
