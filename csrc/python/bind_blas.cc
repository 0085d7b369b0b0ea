// The BLAS behind large matrix products (dynagraph/_blas.py loads it at import).
#include "core/gemm.h"
#include "core/thread_pool.h"
#include "python/bindings.h"

#include <pybind11/numpy.h>
#include <string>

namespace dg::py_bind {

void bind_blas(py::module_& m) {
  def(m, "_load_blas", &blas::load, py::arg("path"), py::arg("prefix"),
        "dlopen a CBLAS library and send large matrix products to <prefix>cblas_sgemm.");
  def(m, "_unload_blas", &blas::unload, "Send every matrix product to Eigen again.");
  def(m, "blas_info", &blas::describe, "Which library runs large matrix products: 'openblas <path>' or 'eigen'.");
  def(m, "get_num_threads", &engine_threads, "Threads the engine may use (set_num_threads; 1 by default).");
  // C = beta C + alpha op(A) op(B) through the same dispatch as every product (tests
  // reach each kernel with it). Column-major float32 arrays; C is written in place.
  def(m, 
      "_gemm",
      [](py::array C, py::array A, bool trans_a, py::array B, bool trans_b, float beta, float alpha) {
        for (auto* a : {&C, &A, &B})  // no conversion: C must be the caller's own array
          if (a->ndim() != 2 || !(a->flags() & py::array::f_style) || !a->dtype().is(py::dtype::of<float>()))
            throw py::value_error("_gemm: C, A and B must be 2-d Fortran-ordered float32 arrays");
        if (!C.writeable()) throw py::value_error("_gemm: C is read-only");
        const auto m = C.shape(0), n = C.shape(1);
        const auto k = trans_a ? A.shape(0) : A.shape(1);
        if ((trans_a ? A.shape(1) : A.shape(0)) != m || (trans_b ? B.shape(1) : B.shape(0)) != k ||
            (trans_b ? B.shape(0) : B.shape(1)) != n)
          throw py::value_error("_gemm: shapes do not agree: C " + std::to_string(m) + "x" + std::to_string(n) +
                                ", A " + std::to_string(A.shape(0)) + "x" + std::to_string(A.shape(1)) + ", B " +
                                std::to_string(B.shape(0)) + "x" + std::to_string(B.shape(1)));
        gemm(static_cast<float*>(C.mutable_data()), static_cast<const float*>(A.data()), trans_a,
             static_cast<const float*>(B.data()), trans_b, unsigned(m), unsigned(n), unsigned(k), beta,
             alpha);
      },
      py::arg("C"), py::arg("A"), py::arg("trans_a"), py::arg("B"), py::arg("trans_b"), py::arg("beta"),
      py::arg("alpha"));
  def(m, "_pool_handoff_ns", &pool_handoff_ns, py::arg("jobs"), py::arg("tasks"),
      "For measurements: nanoseconds per job of `jobs` empty jobs of `tasks` tasks each, run back to back on "
      "the engine's threads (set_num_threads).");
  def(m, "_pool_worker_sleeps", &pool_worker_sleeps,
      "For tests: how many times the engine's pool workers have gone to sleep (after spinning without a job) "
      "since the pool started; 0 without a pool.");
  def(m, "_pool_parallel_ns", &pool_parallel_ns,
      "For measurements: wall-clock nanoseconds spent in jobs handed to the engine's threads (two or more "
      "tasks, two or more threads) since the process started; the rest ran on one thread.");
  def(m, "set_num_threads", [](int n) {
        set_engine_threads(n);
        blas::set_threads(n);
      }, py::arg("n"),
      "Threads the engine may use: for one large matrix product (the BLAS's threads), and with autobatching for "
      "the large groups of one step that read none of each other's outputs (run at once, each with a one-thread "
      "BLAS), a large group of an element-wise op or product split by members, its batched arguments' "
      "gradients likewise, the argument gradients of independent small groups of backward at once, and a "
      "weight's gradient product by columns (values and gradients are the same as "
      "with one thread). 1 (no threads) by default, as DyNet; "
      "DYNAGRAPH_NUM_THREADS or OMP_NUM_THREADS set it at import.");
}

}  // namespace dg::py_bind
