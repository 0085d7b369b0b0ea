// The BLAS behind large matrix products (dynagraph/_blas.py loads it at import).
#include "core/gemm.h"
#include "python/bindings.h"

namespace dg::py_bind {

void bind_blas(py::module_& m) {
  m.def("_load_blas", &blas::load, py::arg("path"), py::arg("prefix"),
        "dlopen a CBLAS library and send large matrix products to <prefix>cblas_sgemm.");
  m.def("_unload_blas", &blas::unload, "Send every matrix product to Eigen again.");
  m.def("blas_info", &blas::describe, "Which library runs large matrix products: 'openblas <path>' or 'eigen'.");
  m.def("get_num_threads", &blas::threads, "Threads the BLAS may use for one large matrix product (1 without one).");
  m.def("set_num_threads", &blas::set_threads, py::arg("n"),
        "Threads the BLAS may use for one large matrix product; the graph itself runs on one thread.");
}

}  // namespace dg::py_bind
