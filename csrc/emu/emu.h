// The emulated device's launcher (EMU:0): the same kernel bodies a GPU runs,
// executed on the host.
//
//   launch(n, k)          a grid of blocks of kBlock threads, run as a
//                         sequential loop; thread (block, t) calls k(block * kBlock + t)
//   launch_blocks(g, k)   block-cooperative kernels: kCoopThreads real threads
//                         per block, a barrier for sync() and a shared array,
//                         blocks one after another
//   sgemm*                cuBLAS's column-major arguments, computed by the host BLAS
//   to_device/to_host     memcpy (device memory is host memory here)
// csrc/cuda/launch.cuh is the same interface for a GPU.
#pragma once
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "core/device.h"
#include "core/error.h"
#include "core/gemm.h"

namespace dg::emu {

constexpr unsigned kBlock = 256;
// Few threads per cooperative block: enough to exercise every barrier and
// the tree reduction, cheap to start on the host.
constexpr unsigned kCoopThreads = 4;

// A reusable barrier for the threads of one block (C++17 has none).
class Barrier {
 public:
  explicit Barrier(unsigned n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(m_);
    const unsigned gen = generation_;
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != gen; });
    }
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  unsigned n_, arrived_ = 0, generation_ = 0;
};

// What a block-cooperative kernel body sees on the emulated device.
struct Block {
  unsigned block, thread, block_dim, grid_dim;
  float* shared;
  Barrier* barrier;
  void sync() { barrier->wait(); }
};

struct Backend {
  static constexpr DeviceId device = kEmuDevice;

  template <class K>
  static void launch(uint32_t n, const K& k) {
    if (n == 0) return;  // as the CUDA launcher: nothing is launched
    ++device_launch_stats(device).kernels;
    const uint32_t blocks = (n + kBlock - 1) / kBlock;
    for (uint32_t b = 0; b < blocks; ++b)
      for (uint32_t t = 0; t < kBlock; ++t) {
        const uint32_t i = b * kBlock + t;
        if (i < n) k(i);
      }
  }

  template <class K>
  static void launch_blocks(uint32_t grid, const K& k) {
    if (grid == 0) return;
    ++device_launch_stats(device).kernels;
    std::vector<float> shared(kCoopThreads);
    Barrier barrier(kCoopThreads);
    auto body = [&](unsigned t) {
      for (uint32_t b = 0; b < grid; ++b) {
        Block blk{b, t, kCoopThreads, grid, shared.data(), &barrier};
        k(blk);
        barrier.wait();  // the next block reuses the shared array
      }
    };
    std::vector<std::thread> threads;
    threads.reserve(kCoopThreads - 1);
    for (unsigned t = 1; t < kCoopThreads; ++t) threads.emplace_back(body, t);
    body(0);
    for (auto& th : threads) th.join();
  }

  // C = alpha op(A) op(B) + beta C, column-major with leading dimensions (cuBLAS's sgemm).
  static void sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B,
                    int ldb, float beta, float* C, int ldc) {
    if (m == 0 || n == 0) return;
    ++device_launch_stats(device).gemms;
    host_sgemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  // cuBLAS's sgemmStridedBatched: product b uses A + b*sa, B + b*sb, C + b*sc (one call, as on a GPU).
  static void sgemm_strided_batched(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda,
                                    long long sa, const float* B, int ldb, long long sb, float beta, float* C, int ldc,
                                    long long sc, int batch) {
    if (m == 0 || n == 0 || batch == 0) return;
    ++device_launch_stats(device).batched_gemms;
    for (int b = 0; b < batch; ++b)
      host_sgemm(ta, tb, m, n, k, alpha, A + b * sa, lda, B + b * sb, ldb, beta, C + b * sc, ldc);
  }

  static void to_device(void* dst, const void* src, size_t bytes) {
    ++device_launch_stats(device).copies;
    std::memcpy(dst, src, bytes);
  }
  static void to_host(void* dst, const void* src, size_t bytes) {
    ++device_launch_stats(device).copies;
    std::memcpy(dst, src, bytes);
  }
  static void copy(void* dst, const void* src, size_t bytes) {
    ++device_launch_stats(device).copies;
    std::memcpy(dst, src, bytes);
  }
  static void synchronize() {}

 private:
  // C = alpha op(A) op(B) + beta C on the host BLAS (column-major, leading dimensions).
  static void host_sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B,
                         int ldb, float beta, float* C, int ldc) {
    if (lda == (ta ? k : m) && ldb == (tb ? n : k) && ldc == m) {
      if (beta != 1.f) scale(C, size_t(m) * n, beta);
      if (k > 0) gemm(C, A, ta, B, tb, m, n, k, 1.f, alpha);
      return;
    }
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        float s = 0.f;
        for (int p = 0; p < k; ++p)
          s += (ta ? A[p + size_t(i) * lda] : A[i + size_t(p) * lda]) * (tb ? B[j + size_t(p) * ldb] : B[p + size_t(j) * ldb]);
        float& c = C[i + size_t(j) * ldc];
        c = alpha * s + (beta == 0.f ? 0.f : beta * c);
      }
  }
  static void scale(float* C, size_t n, float beta) {
    for (size_t i = 0; i < n; ++i) C[i] = beta == 0.f ? 0.f : beta * C[i];
  }
};

}  // namespace dg::emu
