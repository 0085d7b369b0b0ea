#include "core/gemm_skinny.h"

#include <cstddef>

#include <Eigen/Core>

#include "core/simd.h"

namespace dg {
namespace {

using Eigen::internal::ploadu;
using Eigen::internal::pmadd;
using Eigen::internal::pmul;
using Eigen::internal::predux;
using Eigen::internal::pset1;
using Eigen::internal::pstoreu;
using simd::kPacket;
using simd::Packet;

// Up to 4 columns of B at a time: 2 x 4 accumulators, 2 loads of A and a broadcast
// fit the 16 vector registers of AVX2.
constexpr unsigned kCols = 4;

// A B for N columns. Rows in blocks of two packets; the columns of A in panels of
// kPanel, so that a row block reads kPanel short runs of A (streams a prefetcher
// follows, on few pages: running down all 256 columns at once touched a page per
// column and ran at 7-10 GFLOP/s) and C (m x N, in L2) is read and written once per panel.
// Zen 3, 10000 x 256: 33-38 GFLOP/s for 2-5 columns against OpenBLAS's 11-25.
constexpr unsigned kPanel = 16;

template <int N>
void nn_columns(float* C, const float* A, const float* B, unsigned m, unsigned k, float beta, float alpha) {
  constexpr unsigned R = 2 * kPacket;
  const unsigned full = m - m % R;
  for (unsigned k0 = 0; k0 < k; k0 += kPanel) {
    const unsigned k1 = k0 + kPanel < k ? k0 + kPanel : k;
    for (unsigned i0 = 0; i0 < full; i0 += R) {
      Packet acc[N][2];
      for (int j = 0; j < N; ++j)
        for (int h = 0; h < 2; ++h) {
          const float* c = C + i0 + h * kPacket + size_t(j) * m;
          if (k0 > 0) acc[j][h] = ploadu<Packet>(c);  // the panels before this one
          else if (beta != 0.f) acc[j][h] = pmul(pset1<Packet>(beta), ploadu<Packet>(c));
          else acc[j][h] = pset1<Packet>(0.f);  // C may hold anything (NaN): never read it
        }
      const float* a = A + i0 + size_t(k0) * m;
      for (unsigned kk = k0; kk < k1; ++kk, a += m) {
        const Packet a0 = ploadu<Packet>(a), a1 = ploadu<Packet>(a + kPacket);
        for (int j = 0; j < N; ++j) {
          const Packet b = pset1<Packet>(alpha * B[kk + size_t(j) * k]);
          acc[j][0] = pmadd(a0, b, acc[j][0]);
          acc[j][1] = pmadd(a1, b, acc[j][1]);
        }
      }
      for (int j = 0; j < N; ++j)
        for (int h = 0; h < 2; ++h) pstoreu(C + i0 + h * kPacket + size_t(j) * m, acc[j][h]);
    }
  }
  for (unsigned i = full; i < m; ++i)  // the last m % R rows
    for (int j = 0; j < N; ++j) {
      float s = 0.f;
      for (unsigned kk = 0; kk < k; ++kk) s += A[i + size_t(kk) * m] * B[kk + size_t(j) * k];
      float& c = C[i + size_t(j) * m];
      c = alpha * s + (beta != 0.f ? beta * c : 0.f);
    }
}

// Aᵀ B for N columns: two columns of A at a time (each read once, contiguously),
// dotted with the N columns of B (in L2). Zen 3, 10000 x 256: 44-52 GFLOP/s for
// 4-8 columns against OpenBLAS's 24-33.
template <int N>
void tn_columns(float* C, const float* A, const float* B, unsigned m, unsigned k, float beta, float alpha) {
  auto store = [&](unsigned row, int j, float s) {
    float& c = C[row + size_t(j) * k];
    c = alpha * s + (beta != 0.f ? beta * c : 0.f);
  };
  const unsigned full = m - m % kPacket;
  unsigned kk = 0;
  for (; kk + 2 <= k; kk += 2) {
    const float* a0 = A + size_t(kk) * m;
    const float* a1 = a0 + m;
    Packet acc[N][2];
    for (int j = 0; j < N; ++j) acc[j][0] = acc[j][1] = pset1<Packet>(0.f);
    for (unsigned i = 0; i < full; i += kPacket) {
      const Packet x0 = ploadu<Packet>(a0 + i), x1 = ploadu<Packet>(a1 + i);
      for (int j = 0; j < N; ++j) {
        const Packet b = ploadu<Packet>(B + i + size_t(j) * m);
        acc[j][0] = pmadd(x0, b, acc[j][0]);
        acc[j][1] = pmadd(x1, b, acc[j][1]);
      }
    }
    for (int j = 0; j < N; ++j) {
      float s0 = predux(acc[j][0]), s1 = predux(acc[j][1]);
      for (unsigned i = full; i < m; ++i) {
        s0 += a0[i] * B[i + size_t(j) * m];
        s1 += a1[i] * B[i + size_t(j) * m];
      }
      store(kk, j, s0);
      store(kk + 1, j, s1);
    }
  }
  for (; kk < k; ++kk)  // an odd last column
    for (int j = 0; j < N; ++j) {
      float s = 0.f;
      for (unsigned i = 0; i < m; ++i) s += A[i + size_t(kk) * m] * B[i + size_t(j) * m];
      store(kk, j, s);
    }
}

struct NN {  // A B
  template <int N>
  static void run(float* C, const float* A, const float* B, unsigned m, unsigned k, float beta, float alpha) {
    nn_columns<N>(C, A, B, m, k, beta, alpha);
  }
};
struct TN {  // Aᵀ B
  template <int N>
  static void run(float* C, const float* A, const float* B, unsigned m, unsigned k, float beta, float alpha) {
    tn_columns<N>(C, A, B, m, k, beta, alpha);
  }
};

// Kernel::run<N> on blocks of up to kCols columns of B (b_rows long) and C (c_rows long).
template <class Kernel>
void by_columns(float* C, const float* A, const float* B, unsigned m, unsigned n, unsigned k, float beta, float alpha,
                size_t b_rows, size_t c_rows) {
  for (unsigned j0 = 0; j0 < n; j0 += kCols) {
    const float* b = B + j0 * b_rows;
    float* c = C + j0 * c_rows;
    switch (n - j0 < kCols ? n - j0 : kCols) {
      case 1: Kernel::template run<1>(c, A, b, m, k, beta, alpha); break;
      case 2: Kernel::template run<2>(c, A, b, m, k, beta, alpha); break;
      case 3: Kernel::template run<3>(c, A, b, m, k, beta, alpha); break;
      default: Kernel::template run<4>(c, A, b, m, k, beta, alpha); break;
    }
  }
}

}  // namespace

void skinny_gemm_nn(float* C, const float* A, const float* B, unsigned m, unsigned n, unsigned k, float beta,
                    float alpha) {
  by_columns<NN>(C, A, B, m, n, k, beta, alpha, k, m);
}

void skinny_gemm_tn(float* C, const float* A, const float* B, unsigned m, unsigned n, unsigned k, float beta,
                    float alpha) {
  by_columns<TN>(C, A, B, m, n, k, beta, alpha, m, k);
}

}  // namespace dg
