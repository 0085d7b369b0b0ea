// Long-lived parameter storage, owned by a ParameterCollection.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "params/resident.h"

namespace dg {

// Both storages derive from enable_shared_from_this so that a graph whose
// nodes point into one can hold a reference and keep it alive (graph.h).
struct ParameterStorage : std::enable_shared_from_this<ParameterStorage> {
  std::string name;
  Dim dim;
  Resident values, grad;     // in host memory, or resident on `device` (params/resident.h)
  HostStaging grad_out;      // the gradient's host copy for dynagraph.distributed (reused)
  bool updated = true;       // false: trainers skip it
  bool nonzero_grad = false; // a backward touched it since the last update
  DeviceId device = kCpuDevice;  // where its nodes run and its values, gradient and trainer state live
  // Node cache: one parameter node per graph epoch.
  uint64_t node_epoch = ~0ull;
  uint32_t node_index = 0;
  bool node_const = false;
  // The graph generation (ComputationGraph::generation()) that holds a reference.
  uint64_t kept_generation = ~0ull;

  ParameterStorage(std::string n, const Dim& d)
      : name(std::move(n)), dim(d), values(d.size()), grad(d.size()) {
    values.set_owner(this, true);
    grad.set_owner(this);
  }
  void place(DeviceId d);  // moves values and gradient to device d
  void clear_grad();
};

struct LookupParameterStorage : std::enable_shared_from_this<LookupParameterStorage> {
  std::string name;
  Dim row_dim;          // shape of one row (one entry)
  unsigned rows;        // vocabulary size
  Resident values, grad;  // as for parameters
  HostStaging grad_out;   // as for parameters
  std::vector<unsigned> touched;   // rows with a nonzero gradient, each once
  std::vector<char> is_touched;
  bool updated = true;
  bool all_touched = false;  // set when a dense gradient was written
  DeviceId device = kCpuDevice;  // where its nodes run and the table lives
  // Node cache for the whole-table node (lookup_table), as for parameters.
  uint64_t node_epoch = ~0ull;
  uint32_t node_index = 0;
  bool node_const = false;
  uint64_t kept_generation = ~0ull;  // as for parameters

  LookupParameterStorage(std::string n, const Dim& row, unsigned count)
      : name(std::move(n)), row_dim(row), rows(count), values(row.size() * count),
        grad(row.size() * count), is_touched(count, 0) {
    values.set_owner(this, true);
    grad.set_owner(this);
  }
  size_t row_size() const { return row_dim.size(); }
  // Host memory of row r, to write (row_read: to read).
  float* row(unsigned r) { return values.write() + static_cast<size_t>(r) * row_size(); }
  const float* row_read(unsigned r) const { return values.read() + static_cast<size_t>(r) * row_size(); }
  float* grad_row(unsigned r) { return grad.write() + static_cast<size_t>(r) * row_size(); }
  void touch(unsigned r) {
    if (!is_touched[r]) {
      is_touched[r] = 1;
      touched.push_back(r);
    }
  }
  bool nonzero_grad() const { return all_touched || !touched.empty(); }
  void place(DeviceId d);
  void clear_grad();
  // Full shape as DyNet reports it: row shape with the count appended.
  Dim full_dim() const;
};

using ParamPtr = std::shared_ptr<ParameterStorage>;
using LookupPtr = std::shared_ptr<LookupParameterStorage>;

}  // namespace dg
