// Devices: the default device, to_device, device values out to NumPy and
// through DLPack, and the arena template exposed for its unit tests.
#include <cstring>

#include "core/arena.h"
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
}

}  // namespace dg::py_bind
