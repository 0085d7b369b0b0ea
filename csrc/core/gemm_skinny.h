// Products of a large matrix with a few columns (per-step softmax layers over a
// vocabulary with a small minibatch: 10000 x 256 times 2-8 columns). A GEMM
// library packs the whole matrix for every call, and the packing, not the
// arithmetic, is then most of the time (43 % of rnnlm-batch at minibatch 4).
// These kernels read the matrix once, straight from where it lies.
#pragma once

namespace dg {

// C (m x n) = beta C + alpha A B: A m x k, B k x n, all column-major and contiguous.
void skinny_gemm_nn(float* C, const float* A, const float* B, unsigned m, unsigned n, unsigned k, float beta,
                    float alpha);
// C (k x n) = beta C + alpha Aᵀ B: A m x k, B m x n.
void skinny_gemm_tn(float* C, const float* A, const float* B, unsigned m, unsigned n, unsigned k, float beta,
                    float alpha);

}  // namespace dg
