#include "core/gemm.h"

#include <dlfcn.h>

#include <Eigen/Core>

#include "core/error.h"
#include "core/gemm_skinny.h"

namespace dg {
namespace {

// CBLAS's enum values (cblas.h): we declare the one function we call rather than
// depend on a header from the wheel at build time.
constexpr int kColMajor = 102, kNoTrans = 111, kTrans = 112;
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*,
                         int);
using ThreadsSetFn = void (*)(int);
using ThreadsGetFn = int (*)();

struct Blas {
  void* handle = nullptr;
  SgemmFn sgemm = nullptr;
  ThreadsSetFn set_threads = nullptr;
  ThreadsGetFn get_threads = nullptr;
  std::string path;
};
Blas& blas_lib() {
  static Blas b;
  return b;
}

// Below this many multiply-adds (or for one column, a GEMV) a library call costs
// more than it saves; Eigen's inlined kernels take those.
constexpr double kBlasMinWork = 16384;

using Mat = Eigen::Map<Eigen::MatrixXf, Eigen::Unaligned>;
using CMat = Eigen::Map<const Eigen::MatrixXf, Eigen::Unaligned>;

void eigen_gemm(float* Cp, const float* Ap, bool ta, const float* Bp, bool tb, unsigned m, unsigned n, unsigned k,
                float beta, float alpha) {
  Mat C(Cp, m, n);
  if (beta == 0.f) C.setZero();
  else if (beta != 1.f) C *= beta;
  CMat A(Ap, ta ? k : m, ta ? m : k), B(Bp, tb ? n : k, tb ? k : n);
  if (!ta && !tb) C.noalias() += alpha * (A * B);
  else if (!ta && tb) C.noalias() += alpha * (A * B.transpose());
  else if (ta && !tb) C.noalias() += alpha * (A.transpose() * B);
  else C.noalias() += alpha * (A.transpose() * B.transpose());
}

// A few columns against a matrix that stays in cache (autobatched groups of 2-7
// nodes, small minibatches): one matrix-vector product per column beats any GEMM's
// packing; measured on Zen 3 at 128 x 128 and 128 x 256 (A and Aᵀ), 25-39 GFLOP/s
// against Eigen's GEMM 8-33 and OpenBLAS's 12-30 for n = 2-7 (OpenBLAS is weakest at
// odd n: 15-24 at n = 5 and 7); from n = 8 OpenBLAS wins (38-45). Larger matrices
// would be read once per column.
constexpr unsigned kGemvMaxCols = 7;
constexpr double kGemvMaxMatrix = 65536;  // floats: 256 kB

void gemv_columns(float* Cp, const float* Ap, bool ta, const float* Bp, unsigned m, unsigned n, unsigned k,
                  float beta, float alpha) {
  using Vec = Eigen::Map<Eigen::VectorXf, Eigen::Unaligned>;
  using CVec = Eigen::Map<const Eigen::VectorXf, Eigen::Unaligned>;
  CMat A(Ap, ta ? k : m, ta ? m : k);
  for (unsigned j = 0; j < n; ++j) {
    Vec c(Cp + size_t(j) * m, m);
    CVec x(Bp + size_t(j) * k, k);
    if (beta == 0.f) c.setZero();
    else if (beta != 1.f) c *= beta;
    if (ta) c.noalias() += alpha * (A.transpose() * x);
    else c.noalias() += alpha * (A * x);
  }
}

// Past that size, a few columns read the matrix once with gemm_skinny.h's kernels
// rather than have a GEMM pack all of it per call (Zen 3, 10000 x 256: A B 33-38
// GFLOP/s against OpenBLAS's 11-25 for n = 2-5, behind from n = 8; Aᵀ B 44-52
// against 24-33 for n = 4-8, even at n = 16).
constexpr unsigned kSkinnyMaxColsNN = 4, kSkinnyMaxColsTN = 12;

}  // namespace

void gemm(float* C, const float* A, bool trans_a, const float* B, bool trans_b, unsigned m, unsigned n, unsigned k,
          float beta, float alpha) {
  if (m == 0 || n == 0) return;
  if (!trans_b && n > 1 && n <= kGemvMaxCols && k > 0 && double(m) * k <= kGemvMaxMatrix) {
    gemv_columns(C, A, trans_a, B, m, n, k, beta, alpha);
    return;
  }
  // (the stored matrix's columns, its contiguous runs, at least 64 long: their vector loops do the work)
  if (!trans_b && n > 1 && double(m) * k > kGemvMaxMatrix && (trans_a ? k : m) >= 64 &&
      n <= (trans_a ? kSkinnyMaxColsTN : kSkinnyMaxColsNN)) {
    if (trans_a) skinny_gemm_tn(C, A, B, k, n, m, beta, alpha);  // A is stored k x m
    else skinny_gemm_nn(C, A, B, m, n, k, beta, alpha);
    return;
  }
  const Blas& b = blas_lib();
  if (b.sgemm && k > 0 && n > 1 && m > 1 && double(m) * n * k >= kBlasMinWork) {
    b.sgemm(kColMajor, trans_a ? kTrans : kNoTrans, trans_b ? kTrans : kNoTrans, int(m), int(n), int(k), alpha, A,
            int(trans_a ? k : m), B, int(trans_b ? n : k), beta, C, int(m));
    return;
  }
  eigen_gemm(C, A, trans_a, B, trans_b, m, n, k, beta, alpha);
}

namespace blas {

void load(const std::string& path, const std::string& prefix) {
  unload();
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) throw Error("could not load the BLAS library " + path + ": " + dlerror());
  auto sym = [&](const std::string& name) { return dlsym(h, (prefix + name).c_str()); };
  auto sgemm = reinterpret_cast<SgemmFn>(sym("cblas_sgemm"));
  if (!sgemm) {
    dlclose(h);
    throw Error("the BLAS library " + path + " has no " + prefix + "cblas_sgemm");
  }
  Blas& b = blas_lib();
  b.handle = h;
  b.sgemm = sgemm;
  b.set_threads = reinterpret_cast<ThreadsSetFn>(sym("openblas_set_num_threads"));
  b.get_threads = reinterpret_cast<ThreadsGetFn>(sym("openblas_get_num_threads"));
  b.path = path;
}

void unload() {
  Blas& b = blas_lib();
  b = Blas{};  // the library stays mapped: a product on another thread may still be in it
}

bool loaded() { return blas_lib().sgemm != nullptr; }

std::string describe() { return loaded() ? "openblas " + blas_lib().path : "eigen"; }

int threads() {
  const Blas& b = blas_lib();
  return b.get_threads ? b.get_threads() : 1;
}

void set_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: the thread count must be >= 1, got " + std::to_string(n));
  const Blas& b = blas_lib();
  if (b.set_threads) b.set_threads(n);
}

bool gemm_nt(float* C, unsigned ldc, const float* A, unsigned lda, const float* B, unsigned ldb, unsigned m,
             unsigned n, unsigned k) {
  const Blas& b = blas_lib();
  if (!b.sgemm) return false;
  b.sgemm(kColMajor, kNoTrans, kTrans, int(m), int(n), int(k), 1.f, A, int(lda), B, int(ldb), 1.f, C, int(ldc));
  return true;
}

}  // namespace blas
}  // namespace dg
