// Device ops of the sequence ops (csrc/ops/conv1d.cc): filter1d_narrow,
// kmax_pooling, fold_rows, kmh_ngram, circ_conv, circ_corr.
#pragma once
#include "device/common.h"
#include "device/softmax_reduce_ops.h"  // lines_of, line_count
#include "kernels/conv1d.h"

namespace dg::dev {

template <class B>
struct Conv1dOps {
  static uint32_t stride(const Tensor& t) { return t.d.bd == 1 ? 0u : static_cast<uint32_t>(t.d.batch_size()); }
  static uint32_t size(const Tensor& t) { return static_cast<uint32_t>(t.d.size()); }

  static kern::Filter1dGeom filter_geom(const Tensor* xs) {
    return {xs[0].d.rows(), xs[0].d.cols(), xs[1].d[1], xs[1].d[2]};
  }
  static void filter1d_fwd(DeviceCtx& ctx, const Node&, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(size(y), kern::Filter1dForward{xs[0].v, xs[1].v, y.v, filter_geom(xs), stride(xs[0]), stride(xs[1])});
  }
  static void filter1d_bwd(DeviceCtx&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                           Tensor& dx) {
    if (i == 0)
      B::launch(size(dx), kern::Filter1dBackwardX{xs[1].v, dy.v, dx.v, filter_geom(xs), stride(xs[1]), dx.d.bd,
                                                  y.d.bd});
    else
      B::launch(size(dx), kern::Filter1dBackwardF{xs[0].v, dy.v, dx.v, filter_geom(xs), stride(xs[0]), dx.d.bd,
                                                  y.d.bd});
  }

  // kmax_pooling(x, k = i0, axis = i1): the chosen positions are kept in n.mem.
  static void kmax_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    auto* pos = static_cast<int32_t*>(ctx.scratch->allocate(sizeof(int32_t) * y.d.size()));
    n.mem = reinterpret_cast<float*>(pos);
    const kern::Lines L = lines_of(xs[0].d, static_cast<unsigned>(n.i1));
    B::launch(line_count(xs[0].d, L), kern::KMaxForward{xs[0].v, y.v, pos, L, static_cast<uint32_t>(n.i0)});
  }
  static void kmax_bwd(DeviceCtx&, const Node& n, const Tensor* xs, const Tensor&, const Tensor& dy, unsigned,
                       Tensor& dx) {
    B::launch(size(dy), kern::KMaxBackward{dy.v, reinterpret_cast<const int32_t*>(n.mem), dx.v,
                                           lines_of(xs[0].d, static_cast<unsigned>(n.i1)), static_cast<uint32_t>(n.i0)});
  }

  static void fold_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(size(y), kern::FoldRowsForward{xs[0].v, y.v, static_cast<uint32_t>(n.i0)});
  }
  static void fold_bwd(DeviceCtx&, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                       Tensor& dx) {
    B::launch(size(dx), kern::FoldRowsBackward{dy.v, dx.v, static_cast<uint32_t>(n.i0)});
  }

  static void ngram_fwd(DeviceCtx& ctx, const Node& n, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(size(y), kern::NgramForward{xs[0].v, y.v, xs[0].d.rows(), xs[0].d.cols(), static_cast<uint32_t>(n.i0)});
  }
  static void ngram_bwd(DeviceCtx&, const Node& n, const Tensor*, const Tensor&, const Tensor& dy, unsigned,
                        Tensor& dx) {
    B::launch(size(dx), kern::NgramBackward{dy.v, dx.v, dx.d.rows(), dx.d.cols(), static_cast<uint32_t>(n.i0)});
  }

  template <bool Conv>
  static void circ_fwd(DeviceCtx& ctx, const Node&, const Tensor* xs, Tensor& y) {
    alloc(ctx, y);
    B::launch(size(y), kern::CircForward<Conv>{xs[0].v, xs[1].v, y.v, {y.d.rows()}, stride(xs[0]), stride(xs[1])});
  }
  template <bool Conv>
  static void circ_bwd(DeviceCtx&, const Node&, const Tensor* xs, const Tensor& y, const Tensor& dy, unsigned i,
                       Tensor& dx) {
    const Tensor& other = xs[1 - i];
    if (i == 0)
      B::launch(size(dx), kern::CircBackward<Conv, 0>{other.v, dy.v, dx.v, {y.d.rows()}, stride(other), dx.d.bd,
                                                      y.d.bd});
    else
      B::launch(size(dx), kern::CircBackward<Conv, 1>{other.v, dy.v, dx.v, {y.d.rows()}, stride(other), dx.d.bd,
                                                      y.d.bd});
  }
};

template <class B>
void register_conv1d(DeviceOpTable& t) {
  using O = Conv1dOps<B>;
  t.set(OpId::filter1d_narrow, O::filter1d_fwd, O::filter1d_bwd);
  t.set(OpId::kmax_pooling, O::kmax_fwd, O::kmax_bwd);
  t.set(OpId::fold_rows, O::fold_fwd, O::fold_bwd);
  t.set(OpId::kmh_ngram, O::ngram_fwd, O::ngram_bwd);
  t.set(OpId::circ_conv, O::template circ_fwd<true>, O::template circ_bwd<true>);
  t.set(OpId::circ_corr, O::template circ_fwd<false>, O::template circ_bwd<false>);
}

}  // namespace dg::dev
