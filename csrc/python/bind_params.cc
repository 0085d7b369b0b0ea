// Parameters, LookupParameters, ParameterCollection, save/load, and the
// expression functions that read parameters (parameter, lookup).
#include <cstring>

#include "core/pool.h"
#include "params/collection.h"
#include "params/io.h"
#include "python/bindings.h"

namespace dg::py_bind {

namespace {

// Values laid out as DyNet's as_array(): a parameter keeps its shape; a lookup
// table is (rows, *row_shape). Copies.
py::array param_array(const Resident& v, const Dim& d) {
  Tensor t(d, const_cast<float*>(v.read()));
  return to_numpy(t);
}
py::array lookup_array(const LookupParameterStorage& p, const Resident& v) {
  std::vector<py::ssize_t> shape{p.rows}, strides{static_cast<py::ssize_t>(p.row_size())};
  py::ssize_t s = 1;
  for (unsigned i = 0; i < p.row_dim.nd; ++i) {
    shape.push_back(p.row_dim.d[i]);
    strides.push_back(s);
    s *= p.row_dim.d[i];
  }
  return widened_array(shape, strides, v.read(), v.size());
}
// Zero-copy flat view of a storage's host memory; `owner` keeps the storage
// alive. The view may be written, so a resident device copy becomes stale
// (copied up again when the device next needs it); dynagraph.distributed,
// which keeps such views across updates, refuses parameters on a device.
py::array flat_view(Resident& v, py::handle owner) {
  return py::array_t<float>({static_cast<py::ssize_t>(v.size())}, {static_cast<py::ssize_t>(sizeof(float))},
                            v.write(), owner);
}

void scale(Resident& v, float a) {
  float* x = v.write();
  for (size_t k = 0; k < v.size(); ++k) x[k] *= a;
  v.push();
}

// Values and gradient move with the device (from Python: right after creation).
void place(ParameterStorage& p, const std::string& name) { p.place(Device::parse(name, "device").id()); }
void place(LookupParameterStorage& p, const std::string& name) { p.place(Device::parse(name, "device").id()); }

void copy_into(Resident& values, const py::object& src, const Dim& d, const std::string& what,
               bool lookup_rows_first, const LookupParameterStorage* lp) {
  const py::array arr = real_array(src, what, "arr");
  if (static_cast<size_t>(arr.size()) != values.size())
    throw ValueError(what + ": array has " + std::to_string(arr.size()) + " values, shape " + d.str() +
                     " needs " + std::to_string(values.size()));
  if (lookup_rows_first && lp) {
    // (rows, *row_shape) in the caller's layout -> each row column-major.
    if (arr.ndim() < 1 || static_cast<size_t>(arr.shape(0)) != lp->rows)
      throw ValueError(what + ": expected an array of " + std::to_string(lp->rows) + " rows, got shape " +
                       std::string(py::str(arr.attr("shape"))));
    auto f = py::array_t<float, py::array::f_style | py::array::forcecast>::ensure(arr);
    size_t rs = lp->row_size();
    float* dst = values.write();
    for (unsigned r = 0; r < lp->rows; ++r) {
      py::array row = f[py::int_(r)];
      auto rf = py::array_t<float, py::array::f_style | py::array::forcecast>::ensure(row);
      std::memcpy(dst + r * rs, rf.data(), sizeof(float) * rs);
    }
    values.push();
    return;
  }
  auto f = py::array_t<float, py::array::f_style | py::array::forcecast>::ensure(arr);
  if (!f) throw std::bad_alloc();  // a real dtype converts to float32 unless memory runs out
  std::memcpy(values.write(), f.data(), sizeof(float) * values.size());
  values.push();
}

Expression lookup_batch(LookupParameterStorage& p, const std::vector<long>& indices, bool update) {
  std::vector<int32_t> idx(indices.size());
  for (size_t k = 0; k < indices.size(); ++k) {
    if (indices[k] < 0 || indices[k] >= static_cast<long>(p.rows))
      throw IndexError("lookup_batch: index " + std::to_string(indices[k]) + " out of range for " + p.name +
                       " with " + std::to_string(p.rows) + " rows");
    idx[k] = static_cast<int32_t>(indices[k]);
  }
  return api::lookup(p, idx.data(), static_cast<unsigned>(idx.size()), true, update);
}

}  // namespace

void bind_params(py::module_& m) {
  py::class_<ParameterStorage, ParamPtr>(m, "Parameters", "A parameter tensor owned by a ParameterCollection.")
      .def("name", [](const ParameterStorage& p) { return p.name; })
      .def("shape", [](const ParameterStorage& p) { py::tuple t = dim_to_py(p.dim); return py::object(t[0]); })
      .def("dim", [](const ParameterStorage& p) { return dim_to_py(p.dim); })
      .def("as_array", [](const ParameterStorage& p) { return param_array(p.values, p.dim); })
      .def("grad_as_array", [](const ParameterStorage& p) { return param_array(p.grad, p.dim); })
      .def("set_value", named("Parameters.set_value", [](ParameterStorage& p, const py::object& arr) {
        // As DyNet: the array's shape must be the parameter's (a transposed array is an
        // error, not a silent reshape).
        const py::array a = real_array(arr, "set_value(" + p.name + ")", "arr");
        const py::object want = dim_to_py(p.dim)[0], got = a.attr("shape");
        if (!want.equal(got))
          throw ValueError("set_value(" + p.name + "): array shape " + std::string(py::str(got)) +
                           " != parameter shape " + std::string(py::str(want)));
        copy_into(p.values, a, p.dim, "set_value(" + p.name + ")", false, nullptr);
      }), py::arg("arr"))
      .def("zero", [](ParameterStorage& p) { p.values.fill(0.f); })
      .def("scale", named("Parameters.scale",
          [](ParameterStorage& p, float a) { scale(p.values, a); }), py::arg("s"))
      .def("scale_gradient", named("Parameters.scale_gradient",
          [](ParameterStorage& p, float a) { scale(p.grad, a); }), py::arg("s"))
      .def("clip_inplace", named("Parameters.clip_inplace", [](ParameterStorage& p, float lo, float hi) {
        if (lo > hi) throw ValueError("clip_inplace: left > right");
        float* x = p.values.write();
        for (size_t k = 0; k < p.values.size(); ++k) x[k] = x[k] < lo ? lo : (x[k] > hi ? hi : x[k]);
        p.values.push();
      }), py::arg("left"), py::arg("right"))
      .def("set_updated", [](ParameterStorage& p, bool b) { p.updated = b; }, py::arg("b"))
      .def("is_updated", [](const ParameterStorage& p) { return p.updated; })
      .def_property("_device", [](const ParameterStorage& p) { return Device::from_id(p.device).name(); },
                    [](ParameterStorage& p, const std::string& name) { place(p, name); })
      // DyNet 2.2's default: W.expr() is constant (W itself, or dy.parameter(W), trains).
      .def("expr", named("Parameters.expr", [](ParameterStorage& p, bool update) { return api::parameter(p, update); }),
           py::arg("update") = false,
           "This parameter's node; update=False (the default, as in DyNet) keeps it out of training.")
      .def("populate", named("Parameters.populate",
          [](ParameterStorage& p, const std::string& path, const std::string& key) {
        populate_parameter(p, path, key);
      }), py::arg("fname"), py::arg("key") = "")
      .def("save", named("Parameters.save",
          [](const ParameterStorage& p, const std::string& path, const std::string& key, bool append) {
        save_parameter(p, path, key, append);
      }), py::arg("fname"), py::arg("key") = "", py::arg("append") = false,
         "Writes this parameter as one entry of DyNet's text format, named `key` (default: its name).")
      .def("_entry_text", [](const ParameterStorage& p, const std::string& key) { return py::bytes(parameter_text(p, key)); },
           py::arg("key") = "", "The entry save() writes, as bytes.")
      .def("_values_view", [](py::object self) { return flat_view(self.cast<ParameterStorage&>().values, self); })
      .def("_grad_view", [](py::object self) { return flat_view(self.cast<ParameterStorage&>().grad, self); })
      .def("_mark_grad", [](ParameterStorage& p) { p.nonzero_grad = true; })
      .def("_clear_grad", &ParameterStorage::clear_grad, "Zeroes the gradient (what a trainer's update does after applying it).")
      .def("__repr__", [](const ParameterStorage& p) { return "<Parameters " + p.name + " " + p.dim.str() + ">"; });

  py::class_<LookupParameterStorage, LookupPtr>(m, "LookupParameters", "A table of parameter rows (embeddings).")
      .def("name", [](const LookupParameterStorage& p) { return p.name; })
      .def("shape", [](const LookupParameterStorage& p) {
        py::list s;
        s.append(p.rows);
        for (unsigned i = 0; i < p.row_dim.nd; ++i) s.append(p.row_dim.d[i]);
        return py::tuple(s);
      })
      .def("as_array", [](const LookupParameterStorage& p) { return lookup_array(p, p.values); })
      .def("grad_as_array", [](const LookupParameterStorage& p) { return lookup_array(p, p.grad); })
      .def("row_as_array", named("LookupParameters.row_as_array", [](LookupParameterStorage& p, long r) {
        if (r < 0 || r >= static_cast<long>(p.rows))
          throw IndexError("row " + std::to_string(r) + " out of range for " + p.name + " with " + std::to_string(p.rows) + " rows");
        return to_numpy(Tensor(p.row_dim, const_cast<float*>(p.row_read(static_cast<unsigned>(r)))));
      }), py::arg("row"))
      .def("init_from_array", named("LookupParameters.init_from_array",
          [](LookupParameterStorage& p, const py::object& arr) {
        copy_into(p.values, arr, p.full_dim(), "init_from_array(" + p.name + ")", true, &p);
      }), py::arg("arr"))
      .def("init_row", named("LookupParameters.init_row",
          [](LookupParameterStorage& p, long r, const py::object& values) {
        if (r < 0 || r >= static_cast<long>(p.rows))
          throw IndexError("row " + std::to_string(r) + " out of range for " + p.name + " with " + std::to_string(p.rows) + " rows");
        // Real numbers only (a complex array's imaginary part would be dropped with a warning).
        auto row = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(
            real_array(values, "init_row", "row"));
        if (!row) throw std::bad_alloc();
        if (row.ndim() != 1)
          throw ValueError("init_row: row must be a list or 1-D array, got shape " +
                           std::string(py::str(row.attr("shape"))));
        if (static_cast<size_t>(row.size()) != p.row_size())
          throw ValueError("init_row: row has " + std::to_string(row.size()) + " values, needs " + std::to_string(p.row_size()));
        std::copy(row.data(), row.data() + row.size(), p.row(static_cast<unsigned>(r)));
        p.values.push();
      }), py::arg("i"), py::arg("row"))
      .def("zero", [](LookupParameterStorage& p) { p.values.fill(0.f); })
      .def("scale", named("LookupParameters.scale",
          [](LookupParameterStorage& p, float a) { scale(p.values, a); }), py::arg("s"))
      .def("scale_gradient", named("LookupParameters.scale_gradient",
          [](LookupParameterStorage& p, float a) { scale(p.grad, a); }), py::arg("s"))
      .def("set_updated", [](LookupParameterStorage& p, bool b) { p.updated = b; }, py::arg("b"))
      .def("is_updated", [](const LookupParameterStorage& p) { return p.updated; })
      .def_property("_device", [](const LookupParameterStorage& p) { return Device::from_id(p.device).name(); },
                    [](LookupParameterStorage& p, const std::string& name) { place(p, name); })
      .def("populate", named("LookupParameters.populate",
          [](LookupParameterStorage& p, const std::string& path, const std::string& key) {
        populate_lookup(p, path, key);
      }), py::arg("fname"), py::arg("key") = "")
      .def("save", named("LookupParameters.save",
          [](const LookupParameterStorage& p, const std::string& path, const std::string& key, bool append) {
        save_lookup(p, path, key, append);
      }), py::arg("fname"), py::arg("key") = "", py::arg("append") = false,
         "Writes this table as one entry of DyNet's text format, named `key` (default: its name).")
      .def("_entry_text", [](const LookupParameterStorage& p, const std::string& key) { return py::bytes(lookup_text(p, key)); },
           py::arg("key") = "", "The entry save() writes, as bytes.")
      .def("expr", named("LookupParameters.expr",
          [](LookupParameterStorage& p, bool update) { return api::lookup_table(p, update); }),
           py::arg("update") = true, "The whole table as one (row shape..., rows) expression.")
      .def("_values_view", [](py::object self) { return flat_view(self.cast<LookupParameterStorage&>().values, self); })
      .def("_grad_view", [](py::object self) { return flat_view(self.cast<LookupParameterStorage&>().grad, self); })
      .def("_touched_rows", [](const LookupParameterStorage& p) {
        if (p.all_touched) {
          std::vector<unsigned> all(p.rows);
          for (unsigned r = 0; r < p.rows; ++r) all[r] = r;
          return all;
        }
        return p.touched;
      }, "Rows with a gradient since the last update.")
      .def("_mark_all_grad", [](LookupParameterStorage& p) { p.all_touched = true; })
      .def("_mark_rows", [](LookupParameterStorage& p, const std::vector<int64_t>& rows) {
        for (int64_t r : rows) {
          if (r < 0 || r >= static_cast<int64_t>(p.rows))
            throw IndexError("LookupParameters._mark_rows: row " + std::to_string(r) + " out of range for " +
                             std::to_string(p.rows) + " rows");
        }
        for (int64_t r : rows) p.touch(static_cast<unsigned>(r));
      }, py::arg("rows"), "Marks rows as holding a gradient written through _grad_view (a trainer then updates them).")
      .def("_clear_grad", &LookupParameterStorage::clear_grad, "Zeroes the gradient and forgets the touched rows.")
      .def("__repr__", [](const LookupParameterStorage& p) {
        return "<LookupParameters " + p.name + " " + std::to_string(p.rows) + "x" + p.row_dim.str() + ">";
      });

  py::class_<ParameterCollection, std::shared_ptr<ParameterCollection>>(m, "ParameterCollectionCore")
      .def(py::init<>())
      .def("add_parameters", named("ParameterCollection.add_parameters",
          [](ParameterCollection& pc, const py::object& d, const std::string& name) {
        return pc.add_parameters(dim_arg(d, 1, "add_parameters", "dim"), name);
      }), py::arg("dim"), py::arg("name") = "")
      .def("add_lookup_parameters", named("ParameterCollection.add_lookup_parameters",
          [](ParameterCollection& pc, const py::object& d, const std::string& name) {
        Dim full = dim_arg(d, 1, "add_lookup_parameters");
        if (full.nd < 2) throw ValueError("add_lookup_parameters needs a shape (rows, dim, ...), got " + full.str());
        Dim row;
        for (unsigned i = 1; i < full.nd; ++i) row.d[row.nd++] = full.d[i];
        return pc.add_lookup_parameters(full.d[0], row, name);
      }), py::arg("dim"), py::arg("name") = "")
      .def("add_subcollection", &ParameterCollection::add_subcollection, py::arg("name") = "")
      .def("parameters_list", &ParameterCollection::parameters_list)
      .def("lookup_parameters_list", &ParameterCollection::lookup_parameters_list)
      .def("parameter_count", &ParameterCollection::parameter_count)
      .def("name", &ParameterCollection::name)
      .def_readwrite("weight_decay", &ParameterCollection::weight_decay)
      .def("save", named("ParameterCollection.save",
          [](const ParameterCollection& pc, const std::string& path, const std::string& key, bool append) {
        save_collection(pc, path, key, append);
      }), py::arg("fname"), py::arg("name") = "", py::arg("append") = false)
      .def("populate", named("ParameterCollection.populate",
          [](ParameterCollection& pc, const std::string& path, const std::string& key) {
        populate_collection(pc, path, key);
      }), py::arg("fname"), py::arg("key") = "")
      .def("_entries_text", [](const ParameterCollection& pc, const std::string& key) {
        return py::bytes(collection_text(pc, key));
      }, py::arg("name") = "", "The entries save() writes, as bytes.")
      .def("_checkpoint", &ParameterCollection::checkpoint, "What the collection holds now, for _restore.")
      .def("_restore", &ParameterCollection::restore, py::arg("state"),
           "Forgets every parameter and subcollection added since the checkpoint.");
  py::class_<ParameterCollection::State>(m, "_CollectionState");

  // Run before building initial values, so that an impossible size fails before
  // NumPy is asked for it (values and gradient: 8 bytes a value).
  def(m, "_check_parameter_shape", [](const py::object& d, bool lookup) {
    Dim full = dim_arg(d, 1, lookup ? "add_lookup_parameters" : "add_parameters");
    check_allocation(2 * sizeof(float) * full.size(),
                     ((lookup ? "add_lookup_parameters " : "add_parameters ") + full.str()).c_str());
  }, py::arg("dim"), py::arg("lookup"), "Raises for a shape that add_parameters could never allocate.");

  // ---- expression functions over parameters
  def(m, "parameter", [](ParameterStorage& p) { return api::parameter(p, true); }, py::arg("p"));
  def(m, "const_parameter", [](ParameterStorage& p) { return api::parameter(p, false); }, py::arg("p"));
  // A lookup table as a whole: a (row shape..., rows) matrix, e.g. for tied embeddings.
  def(m, "parameter", [](LookupParameterStorage& p) { return api::lookup_table(p, true); }, py::arg("p"));
  def(m, "const_parameter", [](LookupParameterStorage& p) { return api::lookup_table(p, false); }, py::arg("p"));
  def(m, "_saved_dim", [](const std::string& path, bool lookup, const std::string& key) {
    return dim_to_py(saved_dim(path, lookup, key));
  }, py::arg("fname"), py::arg("lookup"), py::arg("key"), "((shape), batch) of the entry saved under `key`.");
  def(m, "_saved_entries", [](const std::string& path) {
    py::list out;
    for (auto& e : saved_entries(path))
      out.append(py::make_tuple(e.lookup ? "lookup" : "parameters", e.name, dim_to_py(e.dim)[0],
                                static_cast<unsigned long long>(e.dim.size())));
    return out;
  }, py::arg("fname"), "(kind, name, shape, value count) of every entry of a model file.");
  def(m, "lookup", [](LookupParameterStorage& p, long index, bool update) {
    if (index < 0 || index >= static_cast<long>(p.rows))
      throw IndexError("lookup: index " + std::to_string(index) + " out of range for " + p.name + " with " +
                       std::to_string(p.rows) + " rows");
    int32_t i = static_cast<int32_t>(index);
    return api::lookup(p, &i, 1, false, update);
  }, py::arg("p"), py::arg("index") = 0, py::arg("update") = true,
     "Row `index` of a lookup table as an expression (update=False: a constant, no gradient).");
  def(m, "lookup_batch", &lookup_batch, py::arg("p"), py::arg("indices"), py::arg("update") = true,
        "The rows `indices` of a lookup table as one batched expression.");

  // Parameters stand for their node wherever an Expression is expected (DyNet >= 2.1):
  // the Expression type caster converts them, and they share Expression's operators.
  install_operators(m.attr("Parameters"));
  install_operators(m.attr("LookupParameters"));
  py::class_<LookupParameterStorage, LookupPtr>(m.attr("LookupParameters"))
      .def("__getitem__", named("LookupParameters.__getitem__", [](LookupParameterStorage& p, long index) {
        if (index < 0 || index >= static_cast<long>(p.rows))
          throw IndexError("lookup: index " + std::to_string(index) + " out of range for " + p.name + " with " +
                           std::to_string(p.rows) + " rows");
        int32_t i = static_cast<int32_t>(index);
        return api::lookup(p, &i, 1, false, true);
      }), py::arg("index"), "Row `index` as an expression (DyNet's lookup).")
      .def("__getitem__", named("LookupParameters.__getitem__", [](LookupParameterStorage& p, const std::vector<long>& indices) {
        return lookup_batch(p, indices, true);
      }), py::arg("indices"), "Rows `indices` as one batched expression (DyNet's lookup_batch).");
}

}  // namespace dg::py_bind
