#include "params/parameter.h"

#include <algorithm>

namespace dg {

void ParameterStorage::clear_grad() {
  if (nonzero_grad) std::fill(grad.begin(), grad.end(), 0.f);
  nonzero_grad = false;
}

void LookupParameterStorage::clear_grad() {
  if (all_touched) {
    std::fill(grad.begin(), grad.end(), 0.f);
    std::fill(is_touched.begin(), is_touched.end(), 0);
  } else {
    unsigned rs = row_size();
    for (unsigned r : touched) {
      std::fill(grad_row(r), grad_row(r) + rs, 0.f);
      is_touched[r] = 0;
    }
  }
  touched.clear();
  all_touched = false;
}

Dim LookupParameterStorage::full_dim() const {
  Dim d = row_dim;
  if (d.nd >= kMaxDims) throw ValueError("lookup rows may have at most 3 axes");
  d.d[d.nd++] = rows;
  return d;
}

}  // namespace dg
