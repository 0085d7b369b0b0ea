#include "params/parameter.h"

#include <algorithm>

namespace dg {

void ParameterStorage::place(DeviceId d) {
  values.place(d);
  grad.place(d);
  device = d;
}

void ParameterStorage::clear_grad() {
  if (nonzero_grad) grad.fill(0.f);
  nonzero_grad = false;
}

void LookupParameterStorage::place(DeviceId d) {
  values.place(d);
  grad.place(d);
  device = d;
}

void LookupParameterStorage::clear_grad() {
  if (all_touched) {
    grad.fill(0.f);
    std::fill(is_touched.begin(), is_touched.end(), 0);
  } else {
    grad.zero_rows(touched, row_size());
    for (unsigned r : touched) is_touched[r] = 0;
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
