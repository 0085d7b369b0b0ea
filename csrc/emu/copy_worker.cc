#include "emu/copy_worker.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include <unistd.h>

namespace dg::emu {

namespace {

class CopyWorker {
 public:
  uint64_t enqueue(void* dst, const void* src, size_t bytes) {
    std::lock_guard<std::mutex> lock(m_);
    // Detached: never joined (nor destroyed), it idles on the condition at exit. A forked
    // child has no worker (only the forking thread survives a fork): it starts its own.
    if (owner_ != getpid()) {
      queue_.clear();
      done_.store(issued_);
      std::thread([this] { run(); }).detach();
      owner_ = getpid();
    }
    queue_.push_back({dst, src, bytes, ++issued_});
    work_.notify_one();
    return issued_;
  }
  bool done(uint64_t ev) const { return done_.load(std::memory_order_acquire) >= ev; }
  void wait(uint64_t ev) {
    if (done(ev)) return;
    std::unique_lock<std::mutex> lock(m_);
    finished_.wait(lock, [&] { return done(ev); });
  }
  std::atomic<unsigned> delay_us{0};

 private:
  struct Copy {
    void* dst;
    const void* src;
    size_t bytes;
    uint64_t seq;
  };
  void run() {
    for (;;) {
      Copy c;
      {
        std::unique_lock<std::mutex> lock(m_);
        work_.wait(lock, [&] { return !queue_.empty(); });
        c = queue_.front();
      }
      if (const unsigned us = delay_us.load()) std::this_thread::sleep_for(std::chrono::microseconds(us));
      std::memcpy(c.dst, c.src, c.bytes);
      std::lock_guard<std::mutex> lock(m_);
      queue_.pop_front();
      done_.store(c.seq, std::memory_order_release);
      finished_.notify_all();
    }
  }

  std::mutex m_;
  std::condition_variable work_, finished_;
  std::deque<Copy> queue_;
  uint64_t issued_ = 0;
  std::atomic<uint64_t> done_{0};
  pid_t owner_ = 0;  // the process whose worker runs
};

CopyWorker& worker() {
  static auto* w = new CopyWorker();  // never destroyed: its thread outlives static destruction
  return *w;
}

}  // namespace

uint64_t copy_async(void* dst, const void* src, size_t bytes) { return worker().enqueue(dst, src, bytes); }
bool event_done(uint64_t ev) { return worker().done(ev); }
void wait_event(uint64_t ev) { worker().wait(ev); }
void set_copy_delay_us(unsigned us) { worker().delay_us.store(us); }

}  // namespace dg::emu
