// Trainer objects; the DyNet-named classes with their defaults live in
// dynagraph/trainers.py and wrap this one core class.
#include "params/trainers.h"
#include "python/bindings.h"

namespace dg::py_bind {

void bind_trainers(py::module_& m) {
  py::class_<Trainer>(m, "TrainerCore")
      .def(py::init(named("Trainer", [](const std::string& kind, std::shared_ptr<ParameterCollection> pc,
                                        const std::vector<float>& h) { return make_trainer(kind, std::move(pc), h); })),
           py::arg("kind"), py::arg("pc"), py::arg("hyper"))
      .def("update", named("Trainer.update", [](Trainer& t) { t.update(); }))
      .def("restart", named("Trainer.restart", [](Trainer& t, float lr) { t.restart(lr); }),
           py::arg("learning_rate") = -1.f)
      .def("status", &Trainer::status)
      .def_readwrite("learning_rate", &Trainer::learning_rate)
      .def_readwrite("clipping_enabled", &Trainer::clipping_enabled)
      .def_readwrite("clip_threshold", &Trainer::clip_threshold)
      .def_readwrite("sparse_updates", &Trainer::sparse_updates)
      .def_readwrite("check_finite", &Trainer::check_finite)
      .def_readonly("updates", &Trainer::updates)
      .def_readonly("clips", &Trainer::clips);
}

}  // namespace dg::py_bind
