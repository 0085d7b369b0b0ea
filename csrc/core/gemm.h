// One entry point for matrix products on the CPU: C = beta*C + alpha*op(A)*op(B),
// column-major and contiguous (leading dimension = rows). Products big enough
// to amortise a library call go to an external BLAS when one is loaded
// (dynagraph loads OpenBLAS from the scipy-openblas32 wheel at import; its
// kernels beat Eigen's by 1.2-2.5x on the shapes we run, most on A*B^T);
// the rest, and everything when no BLAS is loaded, go to Eigen.
#pragma once
#include <string>

namespace dg {

// A is m x k (op = none) or k x m (transposed); B is k x n or n x k; C is m x n.
void gemm(float* C, const float* A, bool trans_a, const float* B, bool trans_b, unsigned m, unsigned n, unsigned k,
          float beta = 1.f, float alpha = 1.f);

namespace blas {
// dlopens `path` and looks up `<prefix>cblas_sgemm`; throws dg::Error naming what is missing.
void load(const std::string& path, const std::string& prefix);
void unload();            // back to Eigen only (A/B measurements, tests)
bool loaded();
std::string describe();   // "openblas <path>" or "eigen"
int threads();            // the BLAS's thread count (1 without one)
void set_threads(int n);
// C += A B^T (A m x k, B n x k; C, A, B column-major with leading dimensions
// ldc, lda, ldb) through the loaded BLAS whatever the size (a piece of a larger
// product that went there whole); false, doing nothing, without one.
bool gemm_nt(float* C, unsigned ldc, const float* A, unsigned lda, const float* B, unsigned ldb, unsigned m,
             unsigned n, unsigned k);
}  // namespace blas

}  // namespace dg
