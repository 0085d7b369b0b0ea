#include "core/thread_pool.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

namespace dg {
namespace {

class ThreadPool {
 public:
  explicit ThreadPool(int workers) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  void run(size_t n, const std::function<void(size_t)>& task) {
    errors_.assign(n, nullptr);
    {
      std::lock_guard<std::mutex> g(mu_);
      task_ = &task;
      n_ = n;
      next_.store(0);
      active_ = threads_.size();
      ++job_;
    }
    wake_.notify_all();
    take_tasks();
    {
      std::unique_lock<std::mutex> g(mu_);
      done_.wait(g, [this] { return active_ == 0; });
      task_ = nullptr;
    }
    for (auto& e : errors_)
      if (e) std::rethrow_exception(e);
  }

 private:
  void take_tasks() {
    for (size_t i; (i = next_.fetch_add(1)) < n_;) {
      try {
        (*task_)(i);
      } catch (...) {
        errors_[i] = std::current_exception();
      }
    }
  }
  void work() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> g(mu_);
        wake_.wait(g, [&] { return stop_ || job_ != seen; });
        if (stop_) return;
        seen = job_;
      }
      take_tasks();
      {
        std::lock_guard<std::mutex> g(mu_);
        if (--active_ == 0) done_.notify_one();
      }
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(size_t)>* task_ = nullptr;
  size_t n_ = 0;
  std::atomic<size_t> next_{0};
  size_t active_ = 0;  // workers still on the current job
  uint64_t job_ = 0;
  bool stop_ = false;
  std::vector<std::exception_ptr> errors_;
};

int g_threads = 1;
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
  if (n == g_threads) return;
  if (g_pool && g_pool_pid == getpid()) delete g_pool;
  g_pool = nullptr;
  g_threads = n;
}

void parallel_run(size_t n, const std::function<void(size_t)>& task) {
  if (g_threads == 1 || n < 2) {
    for (size_t i = 0; i < n; ++i) task(i);
    return;
  }
  pool().run(n, task);
}

}  // namespace dg
