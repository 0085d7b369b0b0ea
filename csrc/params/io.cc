#include "params/io.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dg {
namespace {

std::string format_values(const AlignedFloats& v) {
  std::string s;
  s.reserve(v.size() * 16 + 1);
  char buf[32];
  for (float x : v) {
    int n = std::snprintf(buf, sizeof buf, "%+.8e ", x);
    s.append(buf, n);
  }
  s += '\n';
  return s;
}

std::string dim_text(const Dim& d) {
  std::string s = "{";
  for (unsigned i = 0; i < d.nd; ++i) s += (i ? "," : "") + std::to_string(d.d[i]);
  return s + "}";
}

void write_entry(std::string& out, const char* kind, const std::string& name, const Dim& d,
                 const AlignedFloats& v) {
  std::string line = format_values(v);
  out += std::string("#") + kind + "# " + name + " " + dim_text(d) + " " + std::to_string(line.size()) +
         " ZERO_GRAD\n";
  out += line;
}

std::string renamed(const std::string& name, const std::string& prefix, const std::string& key) {
  if (key.empty()) return name;
  return key + "/" + name.substr(prefix.size());
}

struct Entry {
  std::string kind, name;
  Dim dim;
  std::vector<float> values;
};

[[noreturn]] void corrupt(const std::string& path, size_t line, const std::string& what) {
  throw ValueError(path + ":" + std::to_string(line) + ": corrupt model file: " + what);
}

std::vector<Entry> read_entries(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError(path + ": cannot open model file for reading: " + std::strerror(errno));
  std::vector<Entry> out;
  std::string header, values;
  size_t line = 0;
  while (std::getline(in, header)) {
    ++line;
    if (header.empty()) continue;
    Entry e;
    std::istringstream hs(header);
    std::string dims, nbytes, grad;
    if (!(hs >> e.kind >> e.name >> dims >> nbytes >> grad))
      corrupt(path, line, "expected '#Parameter# name {dims} bytes ZERO_GRAD|FULL_GRAD'");
    if (e.kind != "#Parameter#" && e.kind != "#LookupParameter#") corrupt(path, line, "unknown entry " + e.kind);
    if (dims.size() < 3 || dims.front() != '{' || dims.back() != '}') corrupt(path, line, "bad shape " + dims);
    std::vector<long> ds;
    std::stringstream dsst(dims.substr(1, dims.size() - 2));
    for (std::string tok; std::getline(dsst, tok, ',');) {
      char* end = nullptr;
      long x = std::strtol(tok.c_str(), &end, 10);
      if (*end || x <= 0) corrupt(path, line, "bad shape " + dims);
      ds.push_back(x);
    }
    try {
      e.dim = Dim::from_vector(ds);
    } catch (const Error& err) {
      corrupt(path, line, err.what());
    }
    if (!std::getline(in, values)) corrupt(path, line + 1, "file ends before the values of " + e.name);
    ++line;
    size_t want = e.dim.size();
    e.values.reserve(want);
    const char* p = values.c_str();
    while (true) {
      while (*p == ' ') ++p;
      if (!*p || *p == '\r') break;
      char* end = nullptr;
      errno = 0;
      float x = std::strtof(p, &end);
      if (end == p) corrupt(path, line, "not a number in the values of " + e.name);
      e.values.push_back(x);
      p = end;
    }
    if (e.values.size() != want)
      corrupt(path, line, e.name + " has " + std::to_string(e.values.size()) + " values, shape " +
                              dims + " needs " + std::to_string(want) + " (truncated file?)");
    if (grad == "FULL_GRAD") {  // skip the gradient line
      if (!std::getline(in, values)) corrupt(path, line + 1, "file ends before the gradient of " + e.name);
      ++line;
    } else if (grad != "ZERO_GRAD") {
      corrupt(path, line - 1, "expected ZERO_GRAD or FULL_GRAD, got " + grad);
    }
    out.push_back(std::move(e));
  }
  return out;
}

void check_shape(const std::string& path, const Entry& e, const std::string& target, const Dim& d) {
  if (!e.dim.single_equal(d) || e.dim.size() != d.size())
    throw ValueError(path + ": entry " + e.name + " has shape " + dim_text(e.dim) + " but " + target +
                     " has shape " + dim_text(d));
}

// The file's current text when appending, else nothing.
std::string existing_text(const std::string& path, bool append) {
  std::string out;
  if (append) {
    std::ifstream old(path, std::ios::binary);
    if (old) out.assign(std::istreambuf_iterator<char>(old), std::istreambuf_iterator<char>());
  }
  return out;
}

// Writes `out` to a temporary file, then renames it over `path`: a crash
// leaves the old file or the new one, never half of one.
void write_atomically(const std::string& path, const std::string& out) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw IOError(path + ": cannot open for writing: " + std::strerror(errno));
    f.write(out.data(), static_cast<std::streamsize>(out.size()));
    f.flush();
    if (!f) throw IOError(path + ": write failed: " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw IOError(path + ": cannot move the new file into place: " + std::strerror(errno));
  }
}

}  // namespace

void save_collection(const ParameterCollection& pc, const std::string& path, const std::string& key,
                     bool append) {
  std::string out = existing_text(path, append);
  std::string k = key;
  while (!k.empty() && k.back() == '/') k.pop_back();
  for (auto& p : pc.parameters_list())
    write_entry(out, "Parameter", renamed(p->name, pc.name(), k), p->dim, p->values);
  for (auto& p : pc.lookup_parameters_list())
    write_entry(out, "LookupParameter", renamed(p->name, pc.name(), k), p->full_dim(), p->values);
  write_atomically(path, out);
}

void save_parameter(const ParameterStorage& p, const std::string& path, const std::string& key, bool append) {
  std::string out = existing_text(path, append);
  write_entry(out, "Parameter", key.empty() ? p.name : key, p.dim, p.values);
  write_atomically(path, out);
}

void save_lookup(const LookupParameterStorage& p, const std::string& path, const std::string& key, bool append) {
  std::string out = existing_text(path, append);
  write_entry(out, "LookupParameter", key.empty() ? p.name : key, p.full_dim(), p.values);
  write_atomically(path, out);
}

void populate_collection(ParameterCollection& pc, const std::string& path, const std::string& key) {
  auto entries = read_entries(path);
  auto params = pc.parameters_list();
  auto lookups = pc.lookup_parameters_list();
  size_t ip = 0, il = 0;
  for (auto& e : entries) {
    if (!key.empty() && e.name.compare(0, key.size(), key) != 0) continue;
    if (e.kind == "#Parameter#") {
      if (ip >= params.size()) throw ValueError(path + ": more parameters in the file than in the collection");
      check_shape(path, e, params[ip]->name, params[ip]->dim);
      std::copy(e.values.begin(), e.values.end(), params[ip++]->values.begin());
    } else {
      if (il >= lookups.size())
        throw ValueError(path + ": more lookup parameters in the file than in the collection");
      check_shape(path, e, lookups[il]->name, lookups[il]->full_dim());
      std::copy(e.values.begin(), e.values.end(), lookups[il++]->values.begin());
    }
  }
  if (ip != params.size() || il != lookups.size())
    throw ValueError(path + ": the file holds " + std::to_string(ip) + " parameters and " + std::to_string(il) +
                     " lookup parameters for this collection, which has " + std::to_string(params.size()) +
                     " and " + std::to_string(lookups.size()));
}

namespace {
Entry& find_entry(std::vector<Entry>& entries, const std::string& path, const std::string& kind,
                  const std::string& key) {
  for (auto& e : entries)
    if (e.kind == kind && (key.empty() || e.name == key)) return e;
  throw ValueError(path + ": no " + kind + " entry named '" + key + "'");
}
}  // namespace

Dim saved_dim(const std::string& path, bool lookup, const std::string& key) {
  auto entries = read_entries(path);
  return find_entry(entries, path, lookup ? "#LookupParameter#" : "#Parameter#", key).dim;
}

void populate_parameter(ParameterStorage& p, const std::string& path, const std::string& key) {
  auto entries = read_entries(path);
  Entry& e = find_entry(entries, path, "#Parameter#", key);
  check_shape(path, e, p.name, p.dim);
  std::copy(e.values.begin(), e.values.end(), p.values.begin());
}

void populate_lookup(LookupParameterStorage& p, const std::string& path, const std::string& key) {
  auto entries = read_entries(path);
  Entry& e = find_entry(entries, path, "#LookupParameter#", key);
  check_shape(path, e, p.name, p.full_dim());
  std::copy(e.values.begin(), e.values.end(), p.values.begin());
}

}  // namespace dg
