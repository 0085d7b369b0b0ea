// Reading and writing parameters in DyNet's text model format:
//   #Parameter# /name {d1,d2} <bytes of the value line> ZERO_GRAD
//   <values, column-major, "%+.8e " each>
// Files are written atomically (params/safe_file.h); every size in a file is
// checked against the bytes present before anything is allocated for it.
#pragma once
#include <string>
#include <vector>

#include "params/collection.h"

namespace dg {

// Writes the collection's parameters (names prefixed with `key` when given).
void save_collection(const ParameterCollection& pc, const std::string& path, const std::string& key,
                     bool append);
// Fills the collection's parameters, in order, from the file's entries whose
// names start with `key`; shapes must match.
void populate_collection(ParameterCollection& pc, const std::string& path, const std::string& key);
// One parameter as one entry, named `key` (its own name when key is empty).
void save_parameter(const ParameterStorage& p, const std::string& path, const std::string& key, bool append);
void save_lookup(const LookupParameterStorage& p, const std::string& path, const std::string& key, bool append);
// The text of the entries save_* write (dy.save assembles its data file from them).
std::string collection_text(const ParameterCollection& pc, const std::string& key);
std::string parameter_text(const ParameterStorage& p, const std::string& key);
std::string lookup_text(const LookupParameterStorage& p, const std::string& key);
// Kind, name and shape of every entry, the values checked for their byte counts only.
struct SavedEntry {
  bool lookup;
  std::string name;
  Dim dim;
};
std::vector<SavedEntry> saved_entries(const std::string& path);
// The shape saved under `key` (lookup tables: row shape, then the row count).
Dim saved_dim(const std::string& path, bool lookup, const std::string& key);
// Single parameters: the entry named `key` (or the first entry when key is empty).
void populate_parameter(ParameterStorage& p, const std::string& path, const std::string& key);
void populate_lookup(LookupParameterStorage& p, const std::string& path, const std::string& key);

}  // namespace dg
