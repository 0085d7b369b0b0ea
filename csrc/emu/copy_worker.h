// The emulated device's copy stream: a worker thread that executes a FIFO of
// host<->device copies while the compute (the host thread) goes on, as a
// GPU's copy engine does beside its kernels. An event is a copy's sequence
// number; waiting on it blocks until the worker has done that copy (and,
// being FIFO, every copy before it). The compute on EMU:0 is synchronous, so
// a copy issued now is ordered after all the compute issued so far.
#pragma once
#include <cstddef>
#include <cstdint>

namespace dg::emu {

uint64_t copy_async(void* dst, const void* src, size_t bytes);
bool event_done(uint64_t ev);
void wait_event(uint64_t ev);  // the compute waits: on EMU:0, the host blocks
// For the tests: every copy takes at least `us` microseconds more, so that a
// wait missing anywhere shows up as wrong values instead of passing by luck.
void set_copy_delay_us(unsigned us);

}  // namespace dg::emu
