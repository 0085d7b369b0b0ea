// Writing files so that no save loses data, and checking the paths given.
//
// A file is written to a temporary beside it, named `<file>.tmp-XXXXXX` (unique:
// mkstemp), which its writer holds locked (flock) from creation until it is
// renamed over the file. Concurrent writers therefore never share a temporary,
// and the temporary of a killed writer is the only kind that is unlocked: the
// next save to the same file removes those. dynagraph/_safe_files.py follows the
// same convention for the files Python writes.
#pragma once
#include <string>

namespace dg {

// ValueError "<func>: fname ..." for an empty path or one holding a NUL
// character (the C library would silently cut the path there).
void check_path(const std::string& path, const char* func);

// Replaces `path` by `text` atomically: readers see the old file or the new
// one, whole; an error leaves the old file untouched.
void write_file_atomically(const std::string& path, const std::string& text);

// Removes the temporaries `<path>.tmp-XXXXXX` left by writers that died.
void remove_stale_temporaries(const std::string& path);

}  // namespace dg
