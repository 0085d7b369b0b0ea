// A matrix's transpose, copied: the autobatched backward keeps one per weight
// per pass so that each group's Wᵀ dY runs as a plain product (graph.h).
#pragma once

namespace dg {

// dst (cols x rows) = srcᵀ, src rows x cols; both column-major and contiguous, not overlapping.
void transpose_copy(float* dst, const float* src, unsigned rows, unsigned cols);

}  // namespace dg
