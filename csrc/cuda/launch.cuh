// The CUDA launcher (GPU:i): the same interface as the emulated device's
// (csrc/emu/emu.h), so every device op (csrc/device/*_ops.h) is written once
// and instantiated for both.
//
//   launch(n, k)          grid-stride kernel, one thread per index
//   launch_blocks(g, k)   block-cooperative kernels: g blocks of kCoopThreads
//                         threads with a dynamic shared array of kCoopThreads floats
//   sgemm*                cuBLAS (column-major, as the emulated device passes to the host BLAS)
//   to_device/to_host     cudaMemcpy
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "core/device.h"
#include "core/error.h"
#include "kernels/common.h"

namespace dg::cuda {

constexpr unsigned kBlock = 256;
constexpr unsigned kCoopThreads = 256;
constexpr unsigned kMaxGrid = 4096;

[[noreturn]] void fail(const char* what, const std::string& detail);
inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(what, cudaGetErrorString(e));
}
void check_blas(cublasStatus_t s, const char* what);
cublasHandle_t blas_handle();  // one per process and device in use, created on first use
int current_device();

// What a block-cooperative kernel body sees on a GPU.
struct Block {
  unsigned block, thread, block_dim, grid_dim;
  float* shared;
  DG_HD void sync() {
#ifdef __CUDA_ARCH__
    __syncthreads();
#endif
  }
};

template <class K>
__global__ void elementwise_kernel(K k, uint32_t n) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) k(i);
}

template <class K>
__global__ void block_kernel(K k) {
  extern __shared__ float shared[];
  Block blk{blockIdx.x, threadIdx.x, blockDim.x, gridDim.x, shared};
  k(blk);
}

struct Backend {
  static constexpr DeviceId device = 2;  // GPU:0 (the launchers run on the current CUDA device)

  template <class K>
  static void launch(uint32_t n, const K& k) {
    if (n == 0) return;
    uint32_t blocks = (n + kBlock - 1) / kBlock;
    if (blocks > kMaxGrid) blocks = kMaxGrid;
    ++device_launch_stats(device).kernels;
    elementwise_kernel<<<blocks, kBlock>>>(k, n);
    check(cudaGetLastError(), "kernel launch");
  }

  template <class K>
  static void launch_blocks(uint32_t grid, const K& k) {
    if (grid == 0) return;
    ++device_launch_stats(device).kernels;
    block_kernel<<<grid, kCoopThreads, kCoopThreads * sizeof(float)>>>(k);
    check(cudaGetLastError(), "kernel launch");
  }

  static void sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B,
                    int ldb, float beta, float* C, int ldc) {
    if (m == 0 || n == 0) return;
    ++device_launch_stats(device).gemms;
    check_blas(cublasSgemm(blas_handle(), ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k,
                           &alpha, A, lda, B, ldb, &beta, C, ldc),
               "cublasSgemm");
  }
  static void sgemm_strided_batched(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda,
                                    long long sa, const float* B, int ldb, long long sb, float beta, float* C, int ldc,
                                    long long sc, int batch) {
    if (m == 0 || n == 0 || batch == 0) return;
    ++device_launch_stats(device).batched_gemms;
    check_blas(cublasSgemmStridedBatched(blas_handle(), ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                         m, n, k, &alpha, A, lda, sa, B, ldb, sb, &beta, C, ldc, sc, batch),
               "cublasSgemmStridedBatched");
  }

  static void to_device(void* dst, const void* src, size_t bytes) {
    ++device_launch_stats(device).copies;
    check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy to the device");
  }
  static void to_host(void* dst, const void* src, size_t bytes) {
    ++device_launch_stats(device).copies;
    check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy to the host");
  }
  static void copy(void* dst, const void* src, size_t bytes) {
    ++device_launch_stats(device).copies;
    check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy on the device");
  }
  static void synchronize() { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }
};

}  // namespace dg::cuda
