// Exceptions the engine throws; the bindings map each to one Python type.
#pragma once
#include <stdexcept>
#include <string>

namespace dg {

// Base of every engine error (RuntimeError in Python).
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Bad shapes or argument values (ValueError).
struct ValueError : Error {
  using Error::Error;
};
// An index past its bound (IndexError).
struct IndexError : Error {
  using Error::Error;
};
// A size past what the engine can represent (OverflowError).
struct OverflowError : ValueError {
  using ValueError::ValueError;
};
// An allocation that cannot succeed (MemoryError).
struct OutOfMemory : Error {
  using Error::Error;
};
// File I/O and corrupt checkpoints (OSError).
struct IOError : Error {
  using Error::Error;
};

}  // namespace dg
