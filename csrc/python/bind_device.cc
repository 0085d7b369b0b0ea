// Devices: the default device, to_device, device values out to NumPy and
// through DLPack, and the arena template exposed for its unit tests.
#include <cstring>

#include <algorithm>

#include "core/arena.h"
#include "core/block_pool.h"
#include "device/dispatch.h"
#include "python/bindings.h"

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

// What an exported value owns: its own copy of the values (graph memory is
// reused after renew_cg(), so handing out a pointer into it would let the
// array change under its reader), and the shape arrays.
struct Exported {
  DLManagedTensor managed;
  std::vector<int64_t> shape, strides;
  std::vector<float> host;   // CPU and EMU:0 values
  float* device = nullptr;   // GPU values: a device copy from the device's allocator
  DeviceId device_id = kCpuDevice;
  size_t bytes = 0;
};

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

py::capsule export_value(const Tensor& t) {
  auto* e = new Exported();
  for (unsigned i = 0; i < t.d.nd; ++i) e->shape.push_back(t.d.d[i]);
  if (t.d.bd > 1) e->shape.push_back(t.d.bd);
  int64_t stride = 1;
  for (int64_t s : e->shape) {
    e->strides.push_back(stride);
    stride *= s;
  }
  const size_t n = t.d.size();
  e->bytes = sizeof(float) * n;
  e->device_id = t.device;
  void* data;
  if (Device::from_id(t.device).kind == DeviceKind::cuda) {
    e->device = static_cast<float*>(device_allocator(t.device).allocate(e->bytes));
    device_ops(DeviceKind::cuda).copy(e->device, t.v, e->bytes);
    data = e->device;
  } else {
    e->host.resize(n);
    copy_to_host(t, e->host.data());
    data = e->host.data();
  }
  py::tuple dev = dlpack_device_of(t.device);
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
                    py::arg("schedule_ns") = s.schedule_ns, py::arg("schedule_nodes") = s.schedule_nodes);
  }, py::arg("device"), "Counters of the graph memory on a device since the last reset (see docs/memory.md).");
  m.def("reset_device_memory_stats", [](const std::string& name) {
    DeviceId id = device_arg(name, "reset_device_memory_stats");
    reset_device_mem_stats(id);
  }, py::arg("device"), "Zeroes the counters of device_memory_stats (the peak starts again from now).");
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
    if (kw.contains("copy") && !kw["copy"].is_none() && !kw["copy"].cast<bool>())
      throw py::buffer_error("__dlpack__(copy=False): an Expression's value lives in graph memory that renew_cg() "
                             "reuses, so it is exported as a copy");
    return export_value(value_of_live(e));
  }, "The value as a DLPack capsule (float32, a copy; column-major axes, then the batch).");

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
      .def("free", [](TestBlockPool& t, int64_t offset) { t.pool.free(t.base() + offset); })
      .def("reset", [](TestBlockPool& t) { t.pool.reset(); })
      .def("in_use", [](const TestBlockPool& t) { return t.pool.in_use(); })
      .def("peak", [](const TestBlockPool& t) { return t.pool.peak(); })
      .def("largest_free", [](const TestBlockPool& t) { return t.pool.largest_free(); })
      .def("free_blocks", [](const TestBlockPool& t) { return t.pool.free_blocks(); });
}

}  // namespace dg::py_bind
