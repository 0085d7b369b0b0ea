// The CUDA runtime side of GPU:i: the device allocator (cudaMalloc), the
// cuBLAS handle, error reporting, and the op table of the GPU (each family's
// ops are instantiated for the GPU in csrc/cuda/<family>.cu).
#include <deque>
#include <mutex>
#include <new>
#include <vector>

#include "cuda/launch.cuh"
#include "device/common.h"
#include "device/trainer_ops.h"

namespace dg {

namespace cuda {

void fail(const char* what, const std::string& detail) { throw Error(std::string("CUDA: ") + what + ": " + detail); }

void check_blas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) fail(what, "cuBLAS status " + std::to_string(static_cast<int>(s)));
}

int current_device() {
  int d = 0;
  check(cudaGetDevice(&d), "cudaGetDevice");
  return d;
}

cublasHandle_t blas_handle() {
  static std::mutex m;
  static std::vector<cublasHandle_t> handles;
  std::lock_guard<std::mutex> lock(m);
  const int d = current_device();
  if (handles.size() <= static_cast<size_t>(d)) handles.resize(d + 1, nullptr);
  if (!handles[d]) check_blas(cublasCreate(&handles[d]), "cublasCreate");
  return handles[d];
}

// Device memory of GPU:index. The graph's arenas take large chunks from it
// and keep them, so cudaMalloc is rare.
class CudaAllocator : public Allocator {
 public:
  explicit CudaAllocator(int index) : index_(index) {}
  void* allocate(size_t bytes) override {
    check(cudaSetDevice(index_), "cudaSetDevice");
    void* p = nullptr;
    check(cudaMalloc(&p, bytes ? bytes : 1), "cudaMalloc");
    count(static_cast<ptrdiff_t>(bytes));
    return p;
  }
  void deallocate(void* p, size_t bytes) override {
    cudaFree(p);  // no throw: called from destructors
    count(-static_cast<ptrdiff_t>(bytes));
  }

 private:
  int index_;
};

// The copy stream of the process's GPU (device/device_ops.h): a non-blocking
// stream beside the legacy default stream the kernels run on. Each copy
// first waits for the kernels issued so far (an event recorded on stream 0),
// then records its own event; an event's number is its copy's sequence number.
class CopyStream {
 public:
  uint64_t copy(void* dst, const void* src, size_t bytes, bool to_device) {
    std::lock_guard<std::mutex> lock(m_);
    if (!stream_) {
      check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
      check(cudaEventCreateWithFlags(&compute_mark_, cudaEventDisableTiming), "cudaEventCreate");
    }
    // A wait captures the event as recorded now: the one mark serves every copy.
    check(cudaEventRecord(compute_mark_, 0), "cudaEventRecord");
    check(cudaStreamWaitEvent(stream_, compute_mark_, 0), "cudaStreamWaitEvent");
    check(cudaMemcpyAsync(dst, src, bytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, stream_),
          "cudaMemcpyAsync");
    cudaEvent_t e = take();
    check(cudaEventRecord(e, stream_), "cudaEventRecord");
    pending_.push_back({++issued_, e});
    return issued_;
  }
  bool done(uint64_t ev) {
    std::lock_guard<std::mutex> lock(m_);
    return done_locked(ev);
  }
  void wait_compute(uint64_t ev) {
    std::lock_guard<std::mutex> lock(m_);
    if (done_locked(ev)) return;
    check(cudaStreamWaitEvent(0, find(ev), 0), "cudaStreamWaitEvent");
  }
  void wait_host(uint64_t ev) {
    std::lock_guard<std::mutex> lock(m_);
    if (done_locked(ev)) return;
    check(cudaEventSynchronize(find(ev)), "cudaEventSynchronize");
    done_locked(ev);
  }

 private:
  bool done_locked(uint64_t ev) {
    while (!pending_.empty() && completed_ < ev) {
      const cudaError_t q = cudaEventQuery(pending_.front().second);
      if (q == cudaErrorNotReady) break;
      check(q, "cudaEventQuery");
      completed_ = pending_.front().first;
      spare_.push_back(pending_.front().second);
      pending_.pop_front();
    }
    return completed_ >= ev;
  }
  cudaEvent_t find(uint64_t ev) const {
    for (const auto& p : pending_)
      if (p.first == ev) return p.second;
    fail("copy stream", "no pending event " + std::to_string(ev));
  }
  cudaEvent_t take() {
    if (!spare_.empty()) {
      cudaEvent_t e = spare_.back();
      spare_.pop_back();
      return e;
    }
    cudaEvent_t e = nullptr;
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    return e;
  }

  std::mutex m_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t compute_mark_ = nullptr;
  std::deque<std::pair<uint64_t, cudaEvent_t>> pending_;
  std::vector<cudaEvent_t> spare_;
  uint64_t issued_ = 0, completed_ = 0;
};

CopyStream& copy_stream() {
  static auto* s = new CopyStream();  // never destroyed: the CUDA runtime may be gone at exit
  return *s;
}

}  // namespace cuda

// Page-locked host memory for the pinned pools (device/pinned_host.h); portable:
// usable with every GPU of the process.
void* cuda_host_alloc(size_t bytes) {
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocPortable) != cudaSuccess) {
    cudaGetLastError();  // not sticky, but leave nothing for the next check
    throw std::bad_alloc();
  }
  return p;
}

void cuda_host_free(void* p) { cudaFreeHost(p); }  // no throw: called when buffers are trimmed

int cuda_runtime_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // no driver or no GPU: clear the sticky error, report none
    return 0;
  }
  return n;
}

Allocator& cuda_allocator(int index) {
  // Never destroyed: graphs in statics free their arenas at exit.
  static auto* m = new std::mutex();
  static auto* allocators = new std::vector<std::unique_ptr<cuda::CudaAllocator>>();
  std::lock_guard<std::mutex> lock(*m);
  if (index < 0 || index >= cuda_runtime_device_count())
    throw ValueError("GPU:" + std::to_string(index) + " does not exist: the CUDA runtime sees " +
                     std::to_string(cuda_runtime_device_count()) + " GPU(s)");
  if (allocators->size() <= static_cast<size_t>(index)) allocators->resize(index + 1);
  if (!(*allocators)[index]) (*allocators)[index] = std::make_unique<cuda::CudaAllocator>(index);
  return *(*allocators)[index];
}

void register_cuda_inputs(DeviceOpTable& t);
void register_cuda_arith(DeviceOpTable& t);
void register_cuda_matmul(DeviceOpTable& t);
void register_cuda_softmax_reduce(DeviceOpTable& t);
void register_cuda_shape_noise(DeviceOpTable& t);
void register_cuda_lstm(DeviceOpTable& t);
void register_cuda_select(DeviceOpTable& t);
void register_cuda_reduce_axis(DeviceOpTable& t);
void register_cuda_losses(DeviceOpTable& t);
void register_cuda_random(DeviceOpTable& t);
void register_cuda_norm(DeviceOpTable& t);
void register_cuda_sparse(DeviceOpTable& t);
void register_cuda_conv(DeviceOpTable& t);
void register_cuda_conv1d(DeviceOpTable& t);
void register_cuda_contract(DeviceOpTable& t);

void register_cuda_ops(DeviceOpTable& t) {
  using B = cuda::Backend;
  register_cuda_inputs(t);
  register_cuda_arith(t);
  register_cuda_matmul(t);
  register_cuda_softmax_reduce(t);
  register_cuda_shape_noise(t);
  register_cuda_lstm(t);
  register_cuda_select(t);
  register_cuda_reduce_axis(t);
  register_cuda_losses(t);
  register_cuda_random(t);
  register_cuda_norm(t);
  register_cuda_sparse(t);
  register_cuda_conv(t);
  register_cuda_conv1d(t);
  register_cuda_contract(t);
  t.fill = [](float* p, size_t n, float v) { dev::fill<B>(p, n, v); };
  t.copy = B::copy;
  t.add_from_host = dev::add_from_host<B>;
  t.outer_from_host = dev::outer_from_host<B>;
  t.to_host = B::to_host;
  t.to_device = B::to_device;
  t.synchronize = B::synchronize;
  t.gather_slices = dev::gather_slices<B>;
  t.scatter_add_slices = dev::scatter_add_slices<B>;
  t.copy_async = [](void* dst, const void* src, size_t bytes, bool to_device) {
    return cuda::copy_stream().copy(dst, src, bytes, to_device);
  };
  t.event_done = [](uint64_t ev) { return cuda::copy_stream().done(ev); };
  t.wait_event = [](uint64_t ev) { cuda::copy_stream().wait_compute(ev); };
  t.host_wait = [](uint64_t ev) { cuda::copy_stream().wait_host(ev); };
  t.update = dev::update<B>;
  t.squared_norm = dev::squared_norm<B>;
}

}  // namespace dg
