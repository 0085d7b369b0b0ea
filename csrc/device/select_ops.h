// Device ops of select_rows, select_cols, pick_batch_elems,
// concatenate_to_batch and strided_select (csrc/ops/shape.cc).
#pragma once
#include "device/common.h"
#include "kernels/select.h"

namespace dg::dev {

template <class B>
struct SelectOps {
  static void select_rows_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(y.d.size(), kern::SelectRowsForward{xs[0].v, ints_on_device<B>(ctx, n), y.v, xs[0].d.rows(), n.naux});
  }
  static void select_rows_bwd(DeviceCtx& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy,
                              unsigned, Tensor& dx) {
    B::launch(dx.d.size(), kern::SelectRowsBackward{dy.v, ints_on_device<B>(ctx, n), dx.v, dx.d.rows(), n.naux});
  }
  static void select_cols_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(y.d.size(), kern::SelectColsForward{xs[0].v, ints_on_device<B>(ctx, n), y.v, xs[0].d.rows(),
                                                  xs[0].d.cols(), n.naux});
  }
  static void select_cols_bwd(DeviceCtx& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy,
                              unsigned, Tensor& dx) {
    B::launch(dx.d.size(), kern::SelectColsBackward{dy.v, ints_on_device<B>(ctx, n), dx.v, dx.d.rows(),
                                                    dx.d.cols(), n.naux});
  }
  // One batch element is a view into x (as on the CPU); several are copied.
  static void pick_batches_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    const size_t bs = y.d.batch_size();
    if (n.naux == 1) {
      y.v = xs[0].v + static_cast<size_t>(ctx.ints[n.aux0]) * bs;
      return;
    }
    alloc(ctx, y);
    B::launch(y.d.size(), kern::PickBatchesForward{xs[0].v, ints_on_device<B>(ctx, n), y.v, uint32_t(bs)});
  }
  static void pick_batches_bwd(DeviceCtx& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy,
                               unsigned, Tensor& dx) {
    B::launch(dx.d.size(), kern::PickBatchesBackward{dy.v, ints_on_device<B>(ctx, n), dx.v,
                                                     uint32_t(dy.d.batch_size()), n.naux});
  }
  static void to_batch_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    if (n.nargs == 1) {
      y.v = xs[0].v;
      return;
    }
    alloc(ctx, y);
    size_t offset = 0;
    for (unsigned k = 0; k < n.nargs; ++k) {
      B::copy(y.v + offset, xs[k].v, sizeof(float) * xs[k].d.size());
      offset += xs[k].d.size();
    }
  }
  static void to_batch_bwd(DeviceCtx&, const Node&, const Tensor* xs, const Tensor&, const Tensor& dy, unsigned i,
                           Tensor& dx) {
    size_t offset = 0;
    for (unsigned k = 0; k < i; ++k) offset += xs[k].d.size();
    axpy<B>(dy.v + offset, dx.v, dx.d.size());
  }
  // The selection as the kernels see it, from int_data = {ns, strides..., nf,
  // froms..., nt, tos...} (validated when the node was built; missing entries
  // mean stride 1, from 0, to the end).
  static kern::StridedMap strided_map(const DeviceCtx& ctx, const Node& n, const Dim& x) {
    const int32_t* p = ctx.ints + n.aux0;
    const int32_t *strides = p + 1, *froms = strides + p[0] + 1, *tos = froms + froms[-1] + 1;
    const unsigned ns = p[0], nf = froms[-1], nt = tos[-1];
    kern::StridedMap m;
    // slot i < 4: axis i (count 1 beyond the tensor's axes); slot 4: the batch, numbered x.nd in int_data
    auto set = [&](unsigned slot, unsigned ax, uint32_t len) {
      const int32_t st = ax < ns ? strides[ax] : 1, f = ax < nf ? froms[ax] : 0;
      const int32_t t = ax < nt ? tos[ax] : static_cast<int32_t>(len);
      m.from[slot] = static_cast<uint32_t>(f);
      m.stride[slot] = static_cast<uint32_t>(st);
      m.count[slot] = static_cast<uint32_t>((t - f + st - 1) / st);
    };
    uint32_t xstride = 1;
    for (unsigned i = 0; i < 4; ++i) {
      m.xstride[i] = xstride;
      m.from[i] = 0;
      m.stride[i] = 1;
      m.count[i] = 1;
      if (i < x.nd) {
        set(i, i, x.d[i]);
        xstride *= x.d[i];
      }
    }
    m.xstride[4] = static_cast<uint32_t>(x.batch_size());
    set(4, x.nd, x.bd);
    return m;
  }
  static void strided_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(y.d.size(), kern::StridedForward{xs[0].v, y.v, strided_map(ctx, n, xs[0].d)});
  }
  static void strided_bwd(DeviceCtx& ctx, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                          Tensor& dx) {
    B::launch(dy.d.size(), kern::StridedBackward{dy.v, dx.v, strided_map(ctx, n, dx.d)});
  }
};

template <class B>
void register_select(DeviceOpTable& t) {
  using O = SelectOps<B>;
  t.set(OpId::select_rows, O::select_rows_fwd, O::select_rows_bwd);
  t.set(OpId::select_cols, O::select_cols_fwd, O::select_cols_bwd);
  t.set(OpId::pick_batch_elems, O::pick_batches_fwd, O::pick_batches_bwd);
  t.set(OpId::concatenate_to_batch, O::to_batch_fwd, O::to_batch_bwd);
  t.set(OpId::strided_select, O::strided_fwd, O::strided_bwd);
}

}  // namespace dg::dev
