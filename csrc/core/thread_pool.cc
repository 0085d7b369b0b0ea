#include "core/thread_pool.h"

#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DG_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define DG_PAUSE() asm volatile("yield")
#else
#define DG_PAUSE() ((void)0)
#endif

namespace dg {
namespace {

// How long a worker polls for the next job before it sleeps, and how long the
// caller polls for the workers to finish before it sleeps: kSpinNs, and kHotSpinNs
// while a PoolHot is alive (an autobatched forward or backward on the pool). A
// wake-up through the condition variable cost ~70 us on the shared 2-core box
// (issue 26), and a job published while its worker sleeps is mostly done by the
// caller alone before the worker wakes. An autobatched graph's jobs come up to a
// few hundred microseconds apart (the serial steps between waves): at a 50 us spin
// the worker slept ~40 times per 64-tree graph, and two threads gave 1.0-1.14x one;
// with the long spin during the passes, 1.3x. Past kSpinNs a poller yields its core
// (sched_yield) each round, so more threads than free cores (other processes, a CPU
// quota) still let the others run; outside the passes (Python building the next
// graph) the pool sleeps after kSpinNs and gives its core back.
constexpr int64_t kSpinNs = 50000;
constexpr int64_t kHotSpinNs = 2000000;

std::atomic<int> g_hot{0};  // live PoolHot scopes

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Polls `done` (checking the clock every 64 rounds) for up to kSpinNs, or kHotSpinNs
// while the pool is hot (yielding the core past kSpinNs); true when it held.
template <class P>
bool spin_until(P done) {
  int64_t start = 0;
  for (uint32_t i = 1;; ++i) {
    if (done()) return true;
    DG_PAUSE();
    if ((i & 63) == 0) {
      const int64_t t = now_ns();
      if (!start) {
        start = t;
      } else if (t - start > kSpinNs) {
        if (g_hot.load(std::memory_order_relaxed) == 0 || t - start > kHotSpinNs) return false;
        sched_yield();
      }
    }
  }
}

class ThreadPool {
 public:
  explicit ThreadPool(int workers) {
    try {
      for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
    } catch (const std::system_error& e) {  // the OS refused a thread: stop those started, then say so
      const size_t started = threads_.size();
      stop_and_join();
      throw Error("set_num_threads: the engine could start only " + std::to_string(started + 1) + " of its " +
                  std::to_string(workers + 1) + " threads (" + e.what() + "); set fewer");
    }
  }
  ~ThreadPool() { stop_and_join(); }
  void stop_and_join() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_.store(true);
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // A job: the caller publishes it (job_), takes tasks itself, then closes it
  // (closed_) and waits only for the workers that joined it (busy_): a worker the
  // OS has not scheduled yet (a loaded machine) does not hold the caller up, and
  // finds the job closed when it comes.
  void run(size_t n, TaskFn task, void* ctx) {
    if (errors_.size() < n) errors_.resize(n);
    task_ = task;
    ctx_ = ctx;
    n_ = n;
    failed_.store(false, std::memory_order_relaxed);
    next_.store(0, std::memory_order_relaxed);
    const uint64_t job = job_.fetch_add(1) + 1;  // publishes the fields above (seq_cst)
    if (sleeping_.load() > 0) {
      std::lock_guard<std::mutex> g(mu_);  // a sleeper is in wait() or sees the new job under the lock
      wake_.notify_all();
    }
    take_tasks();
    closed_.store(job);  // every task is taken: no worker joins from here
    if (!spin_until([this] { return busy_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> g(mu_);
      caller_waiting_.store(true);
      done_.wait(g, [this] { return busy_.load() == 0; });
      caller_waiting_.store(false);
    }
    if (failed_.load()) {
      std::exception_ptr first;
      for (size_t i = 0; i < n; ++i)
        if (errors_[i]) {
          if (!first) first = errors_[i];
          errors_[i] = nullptr;
        }
      std::rethrow_exception(first);
    }
  }

 private:
  void take_tasks() {
    for (size_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < n_;) {
      try {
        task_(ctx_, i);
      } catch (...) {
        errors_[i] = std::current_exception();
        failed_.store(true);
      }
    }
  }
  void work() {
    uint64_t seen = 0;
    for (;;) {
      if (!spin_until([&] { return job_.load(std::memory_order_acquire) != seen || stop_.load(); })) {
        std::unique_lock<std::mutex> g(mu_);
        sleeping_.fetch_add(1);
        sleeps_.fetch_add(1, std::memory_order_relaxed);
        wake_.wait(g, [&] { return stop_.load() || job_.load() != seen; });
        sleeping_.fetch_sub(1);
      }
      if (stop_.load()) return;
      seen = job_.load();
      busy_.fetch_add(1);
      // Joined before the caller closed it: the job's fields are this job's, and the
      // caller waits for busy_. (Closed: it may already be setting up the next one.)
      if (closed_.load() < seen) take_tasks();
      if (busy_.fetch_sub(1) == 1 && caller_waiting_.load()) {
        std::lock_guard<std::mutex> g(mu_);
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  TaskFn task_ = nullptr;
  void* ctx_ = nullptr;
  size_t n_ = 0;
  std::atomic<size_t> next_{0};
  std::atomic<uint64_t> job_{0}, closed_{0};
  std::atomic<int> busy_{0};  // workers inside the current job
  std::atomic<int> sleeping_{0};
  std::atomic<uint64_t> sleeps_{0};  // times a worker went to sleep (for the hand-off's test)

 public:
  uint64_t sleeps() const { return sleeps_.load(); }

 private:
  std::atomic<bool> caller_waiting_{false}, stop_{false}, failed_{false};
  std::vector<std::exception_ptr> errors_;
};

int g_threads = 1;
constexpr int kMaxEngineThreads = 1024;
ThreadPool* g_pool = nullptr;
pid_t g_pool_pid = 0;

ThreadPool& pool() {
  if (g_pool && g_pool_pid != getpid()) g_pool = nullptr;  // forked: the parent's threads are not here (leaked)
  if (!g_pool) {
    g_pool = new ThreadPool(g_threads - 1);
    g_pool_pid = getpid();
  }
  return *g_pool;
}

}  // namespace

int engine_threads() { return g_threads; }

void set_engine_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: the thread count must be >= 1, got " + std::to_string(n));
  // Each is an OS thread started with the pool: a count far beyond any machine's cores
  // (set_num_threads(10**6)) would otherwise start them until the OS refuses.
  if (n > kMaxEngineThreads)
    throw ValueError("set_num_threads: the thread count must be <= " + std::to_string(kMaxEngineThreads) +
                     ", got " + std::to_string(n));
  if (n == g_threads) return;
  if (g_pool && g_pool_pid == getpid()) delete g_pool;
  g_pool = nullptr;
  g_threads = n;
}

std::atomic<uint64_t> g_parallel_ns{0};

void parallel_run(size_t n, TaskFn task, void* ctx) {
  if (g_threads == 1 || n < 2) {
    for (size_t i = 0; i < n; ++i) task(ctx, i);
    return;
  }
  const int64_t t0 = now_ns();
  struct Charge {  // also when a task raises
    int64_t t0;
    ~Charge() { g_parallel_ns.fetch_add(uint64_t(now_ns() - t0), std::memory_order_relaxed); }
  } charge{t0};
  pool().run(n, task, ctx);
}

uint64_t pool_parallel_ns() { return g_parallel_ns.load(); }

PoolHot::PoolHot() { g_hot.fetch_add(1, std::memory_order_relaxed); }
PoolHot::~PoolHot() { g_hot.fetch_sub(1, std::memory_order_relaxed); }

uint64_t pool_worker_sleeps() { return g_threads > 1 && g_pool && g_pool_pid == getpid() ? g_pool->sleeps() : 0; }

double pool_handoff_ns(uint32_t jobs, uint32_t tasks) {
  std::atomic<uint64_t> sink{0};
  auto body = [&](size_t i) { sink.fetch_add(i, std::memory_order_relaxed); };
  parallel_run(tasks, body);  // the pool started
  const int64_t t0 = now_ns();
  for (uint32_t j = 0; j < jobs; ++j) parallel_run(tasks, body);
  return jobs ? double(now_ns() - t0) / jobs : 0.0;
}

}  // namespace dg
