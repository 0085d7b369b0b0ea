// Tensor: a non-owning view (shape + pointer) into pool or parameter memory.
// Sizes and offsets are size_t (Eigen's Index is 64-bit): a tensor may hold
// more than 2^32 values.
#pragma once
#include <Eigen/Core>
#include <vector>

#include "core/device.h"
#include "core/dim.h"

namespace dg {

using MatMap = Eigen::Map<Eigen::MatrixXf, Eigen::Unaligned>;
using ConstMatMap = Eigen::Map<const Eigen::MatrixXf, Eigen::Unaligned>;
using VecMap = Eigen::Map<Eigen::VectorXf, Eigen::Unaligned>;
using ArrMap = Eigen::Map<Eigen::ArrayXf, Eigen::Unaligned>;

// Long-lived float buffers (parameters, trainer state) aligned to Eigen's
// widest packet: Eigen peels unaligned heads with scalar code whose rounding
// can differ from its vector code, so a malloc-aligned buffer would make the
// same seeded run differ in the last bit depending on the heap's layout.
using AlignedFloats = std::vector<float, Eigen::aligned_allocator<float>>;

struct Tensor {
  Dim d;
  float* v = nullptr;
  DeviceId device = kCpuDevice;  // where v points: host memory, EMU:0's or a GPU's

  Tensor() = default;
  Tensor(const Dim& dim, float* data) : d(dim), v(data) {}

  // All elements (all batch elements) as a flat array.
  ArrMap arr() const { return ArrMap(v, d.size()); }
  VecMap vec() const { return VecMap(v, d.size()); }
  // Batch element b as a rows x (product of the other axes) matrix.
  MatMap mat(unsigned b = 0) const {
    const size_t bs = d.batch_size();
    return MatMap(v + (d.bd == 1 ? 0 : b) * bs, d.rows(), bs / d.rows());
  }
  // All batch elements side by side: rows x (cols * bd).
  MatMap wide() const { return MatMap(v, d.rows(), d.size() / d.rows()); }
  // Each batch element as one column: batch_size x bd.
  MatMap cols_by_batch() const { return MatMap(v, d.batch_size(), d.bd); }
  float* batch_ptr(unsigned b) const { return v + (d.bd == 1 ? 0 : b) * d.batch_size(); }
};

}  // namespace dg
