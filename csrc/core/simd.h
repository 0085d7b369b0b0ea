// The float SIMD packet of the build's target (Eigen's): what the hand-written
// kernels (core/gemm_skinny.cc, core/transpose.cc) load, compute and store at a time.
#pragma once
#include <Eigen/Core>

namespace dg::simd {

using Packet = Eigen::internal::packet_traits<float>::type;
constexpr unsigned kPacket = Eigen::internal::unpacket_traits<Packet>::size;  // floats per packet

}  // namespace dg::simd
