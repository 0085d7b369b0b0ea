// Trainer objects; the DyNet-named classes with their defaults live in
// dynagraph/trainers.py and wrap this one core class.
#include "params/trainers.h"
#include "python/bindings.h"

namespace dg::py_bind {

namespace {
// The storage a Parameters or LookupParameters object stands for, and its number of values.
std::pair<const void*, size_t> storage_of(py::handle p) {
  if (py::isinstance<ParameterStorage>(p)) {
    auto& s = p.cast<ParameterStorage&>();
    return {&s, s.values.size()};
  }
  auto& s = p.cast<LookupParameterStorage&>();
  return {&s, s.values.size()};
}
}  // namespace

void bind_trainers(py::module_& m) {
  py::class_<Trainer>(m, "TrainerCore")
      .def(py::init(named("Trainer", [](const std::string& kind, std::shared_ptr<ParameterCollection> pc,
                                        const std::vector<float>& h) { return make_trainer(kind, std::move(pc), h); })),
           py::arg("kind"), py::arg("pc"), py::arg("hyper"))
      .def("update", named("Trainer.update", [](Trainer& t) { t.update(); }))
      .def("restart", named("Trainer.restart", [](Trainer& t) { t.restart(); }))
      .def("status", &Trainer::status)
      .def_readwrite("learning_rate", &Trainer::learning_rate)
      .def_readwrite("clipping_enabled", &Trainer::clipping_enabled)
      .def_readwrite("clip_threshold", &Trainer::clip_threshold)
      .def_readwrite("sparse_updates", &Trainer::sparse_updates)
      .def_readwrite("check_finite", &Trainer::check_finite)
      .def_readwrite("updates", &Trainer::updates)
      .def("_state_of", [](const Trainer& t, py::handle p) {
        std::vector<float> v = t.state_of(storage_of(p).first);
        return py::array_t<float>(static_cast<py::ssize_t>(v.size()), v.data());
      }, py::arg("param"), "The rule's state of one parameter (slot-major floats; empty before its first update).")
      .def("_set_state", [](Trainer& t, py::handle p, py::array_t<float, py::array::c_style | py::array::forcecast> a) {
        auto [key, size] = storage_of(p);
        t.set_state(key, a.data(), static_cast<size_t>(a.size()), size);
      }, py::arg("param"), py::arg("state"), "Sets what _state_of returns (empty: forget it).")
      .def_readonly("clips", &Trainer::clips);

  def(m, "_resident_traffic", [] {
    const ResidentTraffic t = resident_traffic();
    return py::make_tuple(t.to_device, t.to_host);
  }, "Bytes of parameter memory (values, gradients, trainer state) copied (to the device, to the host) so far.");
}

}  // namespace dg::py_bind
