// Devices: the default device, to_device, device values out to NumPy and
// through DLPack, and the arena template exposed for its unit tests.
#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>

#include <algorithm>

#include "core/arena.h"
#include "core/block_pool.h"
#include "device/dispatch.h"
#include "emu/copy_worker.h"
#include "python/bindings.h"
#include "python/expr_type.h"

namespace dg::py_bind {

namespace {

// ---- DLPack (the ABI of dlpack.h v0.8: the legacy "dltensor" capsule every consumer reads)
struct DLDevice {
  int32_t device_type;  // 1 = kDLCPU, 2 = kDLCUDA
  int32_t device_id;
};
struct DLDataType {
  uint8_t code;  // 2 = float
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};

// What an exported value owns: the shape arrays, and either a pin on the
// graph memory it points into (zero-copy: the pin keeps that chunk from being
// reused by later graphs, core/pin.h) or its own copy of the values.
struct Exported {
  DLManagedTensor managed;
  std::vector<int64_t> shape, strides;
  std::shared_ptr<ChunkPin> pin;  // zero-copy exports
  std::vector<float> host;        // copies of CPU and EMU:0 values
  float* device = nullptr;        // copies of GPU values: from the device's allocator
  DeviceId device_id = kCpuDevice;
  size_t bytes = 0;
};

// May run on any thread, without the GIL (a consumer's deleter): touches no Python object.
void delete_exported(DLManagedTensor* m) {
  auto* e = static_cast<Exported*>(m->manager_ctx);
  if (e->device) device_allocator(e->device_id).deallocate(e->device, e->bytes);
  delete e;
}

// DLPack's device of a value: EMU:0's memory is host memory, so it is exported as kDLCPU.
py::tuple dlpack_device_of(DeviceId id) {
  Device d = Device::from_id(id);
  if (d.kind == DeviceKind::cuda) return py::make_tuple(2, d.index);
  return py::make_tuple(1, 0);
}

// DyNet's axes, then the batch when > 1; column-major strides in elements.
void shape_of(const Tensor& t, std::vector<int64_t>& shape, std::vector<int64_t>& strides) {
  for (unsigned i = 0; i < t.d.nd; ++i) shape.push_back(t.d.d[i]);
  if (t.d.bd > 1) shape.push_back(t.d.bd);
  int64_t stride = 1;
  for (int64_t s : shape) {
    strides.push_back(stride);
    stride *= s;
  }
}

// How __dlpack__ was asked to export: copy (True / False / None), to_host (dl_device asks
// for the CPU while the value is on a GPU).
struct ExportRequest {
  int copy = -1;  // -1 None, 0 False, 1 True
  bool to_host = false;
};

py::capsule export_value(const Tensor& t, const ExportRequest& req) {
  auto* e = new Exported();
  shape_of(t, e->shape, e->strides);
  const size_t n = t.d.size();
  e->bytes = sizeof(float) * n;
  e->device_id = t.device;
  const bool on_gpu = Device::from_id(t.device).kind == DeviceKind::cuda;
  if (req.copy != 1 && !req.to_host) e->pin = cg().pin_value(t);
  if (req.copy == 0 && !e->pin) {
    delete e;
    throw py::buffer_error("__dlpack__(copy=False): this value is not in graph memory (a parameter's or a "
                           "lookup's value aliases the parameter, which update() changes): it can only be "
                           "exported as a copy");
  }
  void* data;
  if (e->pin) {
    data = t.v;
  } else if (on_gpu && !req.to_host) {
    e->device = static_cast<float*>(device_allocator(t.device).allocate(e->bytes));
    device_ops(DeviceKind::cuda).copy(e->device, t.v, e->bytes);
    data = e->device;
  } else {
    e->host.resize(n);
    copy_to_host(t, e->host.data());
    data = e->host.data();
  }
  py::tuple dev = req.to_host ? py::make_tuple(1, 0) : dlpack_device_of(t.device);
  e->managed.dl_tensor = DLTensor{data, DLDevice{dev[0].cast<int32_t>(), dev[1].cast<int32_t>()},
                                  static_cast<int32_t>(e->shape.size()), DLDataType{2, 32, 1}, e->shape.data(),
                                  e->strides.data(), 0};
  e->managed.manager_ctx = e;
  e->managed.deleter = delete_exported;
  // A capsule nobody consumed still owns the tensor; a consumer renames it to "used_dltensor".
  return py::capsule(&e->managed, "dltensor", [](PyObject* cap) {
    if (PyCapsule_IsValid(cap, "dltensor")) {
      auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
      if (m && m->deleter) m->deleter(m);
    } else {
      PyErr_Clear();
    }
  });
}

// The array-API keywords of __dlpack__: stream, max_version, dl_device, copy.
ExportRequest export_request(const Tensor& t, const py::kwargs& kw) {
  static const char* known[] = {"stream", "max_version", "dl_device", "copy"};
  for (auto item : kw) {
    const std::string k = py::str(item.first);
    if (std::find(std::begin(known), std::end(known), k) == std::end(known))
      throw py::type_error("__dlpack__() got an unexpected keyword argument '" + k + "'");
  }
  ExportRequest req;
  if (kw.contains("copy") && !kw["copy"].is_none()) req.copy = kw["copy"].cast<bool>() ? 1 : 0;
  const bool on_gpu = Device::from_id(t.device).kind == DeviceKind::cuda;
  if (kw.contains("dl_device") && !kw["dl_device"].is_none()) {
    auto want = kw["dl_device"].cast<std::pair<int, int>>();
    py::tuple own = dlpack_device_of(t.device);
    const bool same = want.first == own[0].cast<int>() && want.second == own[1].cast<int>();
    if (!same && !(on_gpu && want.first == 1))
      throw py::buffer_error("__dlpack__: cannot export a value on " + Device::from_id(t.device).name() +
                             " to DLPack device (" + std::to_string(want.first) + ", " +
                             std::to_string(want.second) + ")");
    if (!same) {
      if (req.copy == 0)
        throw py::buffer_error("__dlpack__(copy=False): a GPU value asked for on the CPU needs a copy");
      req.to_host = true;
    }
  }
  // stream: None for the CPU (and EMU:0's host memory); on a GPU, the consumer's stream
  // (1 legacy default, 2 per-thread default, > 2 a cudaStream_t) or -1 (no synchronisation).
  py::object stream = kw.contains("stream") ? py::object(kw["stream"]) : py::object(py::none());
  if (!stream.is_none()) {
    if (!py::isinstance<py::int_>(stream))
      throw py::type_error("__dlpack__: stream must be None or an int, got " +
                           std::string(py::str(py::type::of(stream).attr("__name__"))));
    const long s = stream.cast<long>();
    if (!on_gpu && s != -1)
      throw py::value_error("__dlpack__: stream must be None for a value in host memory (" +
                            Device::from_id(t.device).name() + "), got " + std::to_string(s));
    if (on_gpu && s == 0)
      throw py::value_error("__dlpack__: stream 0 is ambiguous for CUDA (DLPack asks for 1 or 2)");
  }
  // The engine runs its kernels in order on the default stream: once they have finished,
  // the value is ready on any stream the consumer names.
  if (on_gpu && (stream.is_none() || stream.cast<long>() != -1)) {
    auto sync = device_ops(DeviceKind::cuda).synchronize;
    if (sync) sync();
  }
  return req;
}

// __cuda_array_interface__ (version 3) of a device value, pinned on `self`
// (an Expression) so that the memory lives as long as the consumer holds it.
// `emulated` lets EMU:0 values describe their (host) memory, for the tests.
py::dict cuda_array_interface(py::handle self, bool emulated) {
  const Expression& e = expr_of(self.ptr());
  cg().check(e);
  const DeviceId device = cg().nodes[e.i].device;  // before forward: probing the attribute computes nothing
  const DeviceKind kind = Device::from_id(device).kind;
  if (!(kind == DeviceKind::cuda || (emulated && kind == DeviceKind::emu)))
    throw py::attribute_error("__cuda_array_interface__: this value is on " + Device::from_id(device).name() +
                              ", not a GPU (use __dlpack__ or npvalue())");
  const Tensor& t = cg().forward(e.i);
  std::shared_ptr<ChunkPin> pin = cg().pin_value(t);
  if (!pin) {
    const Node& n = cg().nodes[e.i];
    const SwapPlan* plan = cg().device_memory().plan_if(device);
    const bool param = (n.op == OpId::parameter || n.op == OpId::lookup_table) && !(plan && node_streams(n));
    const std::string why =
        param ? "this value aliases a parameter (not graph memory), which update() changes"
        : plan ? "this value is in graph memory under a device memory budget (init(device_mem=...)), where the "
                 "budget's plan moves values off the device and reuses their memory within the graph, so it "
                 "cannot be handed out without a copy"
               : "this value aliases memory outside the graph's (a parameter's, through a view)";
    throw py::attribute_error("__cuda_array_interface__: " + why + "; use __dlpack__, which exports a copy");
  }
  if (kind == DeviceKind::cuda) {
    auto sync = device_ops(DeviceKind::cuda).synchronize;
    if (sync) sync();
  }
  auto* holder = new std::shared_ptr<ChunkPin>(std::move(pin));
  py::capsule keep(holder, [](void* p) { delete static_cast<std::shared_ptr<ChunkPin>*>(p); });
  auto* o = reinterpret_cast<ExprObject*>(self.ptr());
  PyObject* old = o->keep;
  o->keep = keep.release().ptr();
  Py_XDECREF(old);
  std::vector<int64_t> shape, strides;
  shape_of(t, shape, strides);
  py::tuple shp(shape.size()), str(shape.size());
  for (size_t k = 0; k < shape.size(); ++k) {
    shp[k] = py::int_(shape[k]);
    str[k] = py::int_(strides[k] * static_cast<int64_t>(sizeof(float)));
  }
  return py::dict(py::arg("shape") = shp, py::arg("typestr") = "<f4",
                  py::arg("data") = py::make_tuple(reinterpret_cast<uintptr_t>(t.v), false),
                  py::arg("strides") = str, py::arg("version") = 3, py::arg("stream") = py::none());
}

const Tensor& value_of_live(const Expression& e) {
  cg().check(e);
  return cg().forward(e.i);
}

DeviceId device_arg(const std::string& name, const char* fn) { return Device::parse(name, fn).id(); }

}  // namespace

// A device value as a host copy (CPU values pass through).
Tensor host_view(const Tensor& t, std::vector<float>& staging) {
  if (t.device == kCpuDevice) return t;
  staging.resize(t.d.size());
  copy_to_host(t, staging.data());
  Tensor h(t.d, staging.data());
  return h;
}

py::array pinned_numpy(PinnedBuffer buffer, const std::vector<py::ssize_t>& shape, const py::dtype& dtype) {
  size_t n = 1;
  for (py::ssize_t k : shape) {
    if (k < 0) throw ValueError("pinned_empty: shape must have sizes >= 0");
    n *= static_cast<size_t>(k);
  }
  if (n * static_cast<size_t>(dtype.itemsize()) > buffer.size())
    throw ValueError("pinned_numpy: the buffer holds " + std::to_string(buffer.size()) + " bytes, the array needs " +
                     std::to_string(n * dtype.itemsize()));
  void* data = buffer.data();
  auto* owner = new PinnedBuffer(std::move(buffer));
  py::capsule keep(owner, [](void* p) { delete static_cast<PinnedBuffer*>(p); });
  return py::array(dtype, shape, {}, data, keep);
}

namespace {
py::dict pinned_stats_dict(const PinnedHostPool& pool) {
  const PinnedStats s = pool.stats();
  return py::dict(py::arg("page_locked") = pool.page_locked(), py::arg("reserved_bytes") = s.reserved_bytes,
                  py::arg("in_use_bytes") = s.in_use_bytes, py::arg("peak_in_use_bytes") = s.peak_in_use_bytes,
                  py::arg("allocations") = s.allocations, py::arg("reuses") = s.reuses,
                  py::arg("releases") = s.releases, py::arg("frees") = s.frees);
}
}  // namespace

void bind_device(py::module_& m) {
  m.def("device_id", [](const std::string& name) { return device_arg(name, "device"); }, py::arg("name"),
        "The engine's number of a device name ('CPU' 0, 'EMU:0' 1, 'GPU:i' 2+i); ValueError for an unknown one.");
  m.def("device_name", [](unsigned id) { return Device::from_id(static_cast<DeviceId>(id)).name(); });
  m.def("set_default_device", [](const std::string& name) { cg().default_device = device_arg(name, "init"); },
        py::arg("name"), "The device of new inputs (and, through dynagraph, new parameters).");
  m.def("get_default_device", []() { return Device::from_id(cg().default_device).name(); });
  m.def("have_cuda", &have_cuda, "True in a CUDA build (DYNAGRAPH_BACKEND=cuda).");
  m.def("cuda_device_count", &cuda_device_count, "GPUs the CUDA runtime sees (0 without a CUDA build or a GPU).");
  m.def("device_op_names", [](const std::string& name) {
    Device d = Device::parse(name, "device_op_names");
    if (d.kind == DeviceKind::cpu) throw ValueError("device_op_names: the CPU runs every op; name a device");
    return device_op_names(d.kind);
  }, py::arg("device"), "Space-separated names of the ops with a kernel on the device.");
  m.def("device_memory", [](const std::string& name) {
    DeviceId id = device_arg(name, "device_memory");
    return py::dict(py::arg("graph") = cg().device_memory().capacity_bytes(id),
                    py::arg("allocated") = device_allocator(id).bytes_in_use(),
                    py::arg("peak") = device_allocator(id).peak_bytes());
  }, py::arg("device"), "Bytes of the device's memory: the graph's pools, all live allocations, their peak.");
  m.def("set_device_budget", [](const std::string& name, int64_t bytes, const std::string& policy) {
    DeviceId id = device_arg(name, "set_device_budget");
    if (id == kCpuDevice) throw ValueError("set_device_budget: the CPU has no budget (its pools grow on demand); name a device");
    if (bytes < 0) throw ValueError("set_device_budget: bytes must be >= 0 (0: no budget), got " + std::to_string(bytes));
    MemoryPolicy p;
    if (policy == "auto") p = MemoryPolicy::automatic;
    else if (policy == "swap") p = MemoryPolicy::swap;
    else if (policy == "recompute") p = MemoryPolicy::recompute;
    else throw ValueError("set_device_budget: policy must be 'auto', 'swap' or 'recompute', got '" + policy + "'");
    set_device_budget(id, static_cast<size_t>(bytes), p);
  }, py::arg("device"), py::arg("bytes"), py::arg("policy") = "auto",
        "Caps the graph's memory on a device at `bytes` (0: no cap); policy picks what leaves the device "
        "when a graph needs more: 'swap', 'recompute' or 'auto'. Applies from the next renew_cg().");
  m.def("device_memory_stats", [](const std::string& name) {
    DeviceId id = device_arg(name, "device_memory_stats");
    const DeviceMemStats& s = device_mem_stats(id);
    const size_t used = cg().device_memory().used_bytes(id);
    return py::dict(py::arg("budget") = device_budget(id), py::arg("policy") = policy_name(device_policy(id)),
                    py::arg("peak_bytes") = std::max<uint64_t>(s.peak_bytes, used), py::arg("in_use_bytes") = used,
                    py::arg("to_host_bytes") = s.to_host_bytes, py::arg("to_device_bytes") = s.to_device_bytes,
                    py::arg("swaps_out") = s.swaps_out, py::arg("swaps_in") = s.swaps_in,
                    py::arg("recomputes") = s.recomputes, py::arg("refetches") = s.refetches,
                    py::arg("schedule_ns") = s.schedule_ns, py::arg("schedule_nodes") = s.schedule_nodes,
                    py::arg("prefetch") = device_prefetch(id), py::arg("prefetches") = s.prefetches,
                    py::arg("prefetch_hits") = s.prefetch_hits, py::arg("prefetch_stalls") = s.prefetch_stalls,
                    py::arg("demand_fetches") = s.demand_fetches, py::arg("freed_after_wait") = s.freed_after_wait,
                    py::arg("params_stream") = params_streaming(id) > 0,
                    py::arg("params_streaming") = params_streaming(id),
                    py::arg("params_resident_bytes") = params_resident_bytes(id),
                    py::arg("streamed_params") = s.streamed_params, py::arg("param_prefetches") = s.param_prefetches,
                    py::arg("batched_steps") = s.batched_steps, py::arg("groups_unbatched") = s.groups_unbatched,
                    py::arg("regathers") = s.regathers, py::arg("schedule_trims") = s.schedule_trims,
                    py::arg("plan_visits") = s.plan_visits, py::arg("kept_over_update") = s.kept_over_update);
  }, py::arg("device"), "Counters of the graph memory on a device since the last reset (see docs/memory.md).");
  m.def("set_device_prefetch", [](const std::string& name, int64_t nodes) {
    DeviceId id = device_arg(name, "set_device_prefetch");
    if (nodes < 0 || nodes > 1000000)
      throw ValueError("set_device_prefetch: nodes must be in [0, 1000000] (0: on demand only), got " +
                       std::to_string(nodes));
    set_device_prefetch(id, static_cast<unsigned>(nodes));
  }, py::arg("device"), py::arg("nodes"),
        "How many nodes ahead a device's swapped values and gradients are brought back on the copy stream "
        "(0: only when needed). Applies at once.");
  m.def("_set_emu_copy_delay", [](unsigned us) { emu::set_copy_delay_us(us); }, py::arg("us"),
        "For the tests: every copy on EMU:0's copy stream takes `us` microseconds longer.");
  m.def("_fail_next_params_block", [] { fail_next_params_block(); },
        "For the tests: the next renew_cg() under a device budget finds no room for the resident parameters.");
  m.def("reset_device_memory_stats", [](const std::string& name) {
    DeviceId id = device_arg(name, "reset_device_memory_stats");
    reset_device_mem_stats(id);
  }, py::arg("device"), "Zeroes the counters of device_memory_stats (the peak starts again from now).");
  m.def("device_launch_stats", [](const std::string& name) {
    DeviceId id = device_arg(name, "device_launch_stats");
    if (id == kCpuDevice) throw ValueError("device_launch_stats: the CPU launches no kernels; name a device ('EMU:0', 'GPU:0')");
    const DeviceLaunchStats& s = device_launch_stats(id);
    return py::dict(py::arg("kernels") = s.kernels, py::arg("gemms") = s.gemms,
                    py::arg("batched_gemms") = s.batched_gemms, py::arg("copies") = s.copies,
                    py::arg("total") = s.total());
  }, py::arg("device"),
        "What a device's launcher issued since the last reset: kernel launches, sgemm and strided-batched sgemm "
        "calls (one each) and copies (host<->device and within the device).");
  m.def("reset_device_launch_stats", [](const std::string& name) {
    DeviceId id = device_arg(name, "reset_device_launch_stats");
    if (id == kCpuDevice) throw ValueError("reset_device_launch_stats: the CPU launches no kernels; name a device");
    device_launch_stats(id) = DeviceLaunchStats{};
  }, py::arg("device"), "Zeroes the counters of device_launch_stats.");
  m.def("pinned_empty", [](const std::vector<py::ssize_t>& shape, const py::object& dtype, const std::string& name) {
    const DeviceId id = device_arg(name, "pinned_empty");
    const py::dtype dt = py::dtype::from_args(dtype);
    size_t n = 1;
    for (py::ssize_t k : shape) {
      if (k < 0) throw ValueError("pinned_empty: shape must have sizes >= 0, got a size of " + std::to_string(k));
      n *= static_cast<size_t>(k);
    }
    return pinned_numpy(PinnedHostPool::of(id).acquire(n * dt.itemsize()), shape, dt);
  }, py::arg("shape"), py::arg("dtype"), py::arg("device"),
        "An uninitialised NumPy array in the pinned host memory of a device's transfers (page-locked on a GPU); "
        "its buffer goes back to the pool when the array is gone.");
  m.def("pinned_memory_stats", [](const std::string& name) {
    return pinned_stats_dict(PinnedHostPool::of(device_arg(name, "pinned_memory_stats")));
  }, py::arg("device"), "Counters of a device's pinned host memory pool (see docs/memory.md).");
  m.def("trim_pinned_memory", [](const std::string& name) {
    PinnedHostPool::of(device_arg(name, "trim_pinned_memory")).trim();
  }, py::arg("device"), "Gives the cached (unused) pinned buffers of a device's pool back to the system.");
  m.def("to_device", [](const Expression& e, const std::string& name) {
    cg().check(e);
    return api::to_device(e, device_arg(name, "to_device"));
  }, py::arg("e"), py::arg("device_str"), "e's value on another device ('CPU', 'EMU:0', 'GPU:0').");

  py::handle E = m.attr("Expression");
  def_method(E, "device", [](const Expression& e) {
    cg().check(e);
    return Device::from_id(cg().nodes[e.i].device).name();
  }, "The device this expression's value lives on ('CPU', 'EMU:0', 'GPU:0').");
  def_method(E, "__dlpack_device__", [](const Expression& e) {
    cg().check(e);
    return dlpack_device_of(cg().nodes[e.i].device);
  });
  def_method(E, "__dlpack__", [](const Expression& e, const py::kwargs& kw) {
    const Tensor& t = value_of_live(e);
    return export_value(t, export_request(t, kw));
  }, "The value as a DLPack capsule (float32; column-major axes, then the batch). Zero-copy when the value is in "
     "graph memory, which stays unchanged while the capsule's consumer holds it (renew_cg() leaves it alone); "
     "copy=True forces a copy, copy=False raises BufferError where only a copy is possible.");
  // A property: a value not on a GPU has no such attribute (hasattr is False), so
  // consumers that probe for it take the DLPack or NumPy path.
  py::setattr(E, "__cuda_array_interface__", py::module_::import("builtins").attr("property")(py::cpp_function(
      [](py::handle self) { return cuda_array_interface(self, false); }, py::name("__cuda_array_interface__"),
      py::doc("CUDA Array Interface (version 3) of a GPU value: zero-copy, the memory pinned while this "
              "Expression lives."))));
  m.def("_cuda_array_interface", [](py::handle self) {
    if (!is_expr(self.ptr())) throw py::type_error("_cuda_array_interface: expected an Expression");
    return cuda_array_interface(self, true);
  }, py::arg("e"), "__cuda_array_interface__'s dict, also for EMU:0 values (host memory), for the tests.");

  // The bump arena over a host allocator, for its unit tests.
  struct TestArena {
    HostAllocator alloc;
    BumpArena<HostAllocator> arena{alloc, 1024};
  };
  py::class_<TestArena>(m, "_TestArena")
      .def(py::init<>())
      .def("allocate", [](TestArena& a, size_t bytes) {
        auto* p = static_cast<unsigned char*>(a.arena.allocate(bytes));
        std::memset(p, 0xAB, bytes);  // the memory is writable to its last byte
        return reinterpret_cast<uintptr_t>(p);
      })
      .def("reset", [](TestArena& a) { a.arena.reset(); })
      .def("capacity", [](const TestArena& a) { return a.arena.capacity_bytes(); })
      .def("used", [](const TestArena& a) { return a.arena.used_bytes(); })
      .def("chunks", [](const TestArena& a) { return a.arena.chunks(); })
      .def("allocator_bytes", [](const TestArena& a) { return a.alloc.bytes_in_use(); });

  // The free-list pool of budgets, over host memory, for its unit tests (offsets, not pointers).
  struct TestBlockPool {
    std::vector<char> region;
    BlockPool pool;
    explicit TestBlockPool(size_t bytes) : region(bytes + BlockPool::kAlign) {
      char* base = region.data();
      base += (BlockPool::kAlign - reinterpret_cast<uintptr_t>(base) % BlockPool::kAlign) % BlockPool::kAlign;
      pool.init(base, bytes);
    }
    char* base() { return region.data() + (BlockPool::kAlign - reinterpret_cast<uintptr_t>(region.data()) % BlockPool::kAlign) % BlockPool::kAlign; }
  };
  py::class_<TestBlockPool>(m, "_TestBlockPool")
      .def(py::init<size_t>())
      .def("allocate", [](TestBlockPool& t, size_t bytes) -> int64_t {
        char* p = t.pool.allocate(bytes);
        if (!p) return -1;
        std::memset(p, 0xAB, bytes);  // writable to its last byte
        return p - t.base();
      })
      .def("allocate_top", [](TestBlockPool& t, size_t bytes) -> int64_t {
        char* p = t.pool.allocate_top(bytes);
        if (!p) return -1;
        std::memset(p, 0xCD, bytes);
        return p - t.base();
      })
      .def("free", [](TestBlockPool& t, int64_t offset) { t.pool.free(t.base() + offset); })
      .def("reset", [](TestBlockPool& t) { t.pool.reset(); })
      .def("in_use", [](const TestBlockPool& t) { return t.pool.in_use(); })
      .def("peak", [](const TestBlockPool& t) { return t.pool.peak(); })
      .def("largest_free", [](const TestBlockPool& t) { return t.pool.largest_free(); })
      .def("free_blocks", [](const TestBlockPool& t) { return t.pool.free_blocks(); });
}

}  // namespace dg::py_bind
