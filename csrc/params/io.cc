#include "params/io.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "params/safe_file.h"

namespace dg {
namespace {

std::string format_values(const HostFloats& v) {
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
                 const HostFloats& v) {
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

// An unsigned decimal number filling the whole token, or false.
bool parse_count(const std::string& tok, unsigned long long& out) {
  if (tok.empty() || tok.size() > 19 || tok.find_first_not_of("0123456789") != std::string::npos) return false;
  out = std::strtoull(tok.c_str(), nullptr, 10);
  return true;
}

// The shape "{d1,d2,...}" and its element count, computed in 64 bits so that
// no header can wrap it round.
std::vector<long> parse_shape(const std::string& path, size_t line, const std::string& entry, const std::string& dims,
                              unsigned long long& count) {
  if (dims.size() < 3 || dims.front() != '{' || dims.back() != '}') corrupt(path, line, entry + "bad shape " + dims);
  std::vector<long> ds;
  count = 1;
  std::stringstream dsst(dims.substr(1, dims.size() - 2));
  for (std::string tok; std::getline(dsst, tok, ',');) {
    unsigned long long x = 0;
    if (!parse_count(tok, x) || x == 0 || x > 0x7fffffffULL) corrupt(path, line, entry + "bad shape " + dims);
    if (count > (1ULL << 62) / x) corrupt(path, line, entry + "shape " + dims + " is too large");
    count *= x;
    ds.push_back(static_cast<long>(x));
  }
  return ds;
}

// The entries of a model file. Every size in a header is checked against the
// bytes actually present before anything is allocated for it; each entry's
// byte count and value count must match, so a cut or edited file fails
// (naming the file, line and entry) instead of loading different values.
// Without `with_values` the values are checked for their byte counts only.
std::vector<Entry> read_entries(const std::string& path, bool with_values = true) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError(path + ": cannot open model file for reading: " + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const unsigned long long file_size = static_cast<unsigned long long>(in.tellg());
  in.seekg(0, std::ios::beg);
  std::vector<Entry> out;
  std::string header, values, grads;
  size_t line = 0;
  while (std::getline(in, header)) {
    ++line;
    if (header.empty()) continue;
    Entry e;
    std::istringstream hs(header);
    std::vector<std::string> tokens;
    for (std::string tok; hs >> tok;) tokens.push_back(tok);
    const std::string entry =
        tokens.size() >= 3 ? "entry " + tokens[1] + ": " : "the entry at line " + std::to_string(line) + ": ";
    if (tokens.size() != 5)
      corrupt(path, line, entry + "expected '#Parameter# name {dims} bytes ZERO_GRAD|FULL_GRAD'");
    e.kind = tokens[0];
    e.name = tokens[1];
    std::string dims = tokens[2], nbytes_text = tokens[3], grad = tokens[4];
    if (e.kind != "#Parameter#" && e.kind != "#LookupParameter#")
      corrupt(path, line, entry + "unknown kind " + e.kind);
    unsigned long long count = 0, nbytes = 0;
    std::vector<long> ds = parse_shape(path, line, entry, dims, count);
    if (!nbytes_text.empty() && nbytes_text[0] == '+') nbytes_text.erase(0, 1);  // a showpos stream's
    if (!parse_count(nbytes_text, nbytes)) corrupt(path, line, entry + "bad byte count " + nbytes_text);
    if (grad != "ZERO_GRAD" && grad != "FULL_GRAD")
      corrupt(path, line, entry + "expected ZERO_GRAD or FULL_GRAD, got " + grad);
    const unsigned lines = grad == "FULL_GRAD" ? 2 : 1;
    // (a header cut short hits the end of the file: then nothing follows)
    const unsigned long long remaining = in.eof() ? 0 : file_size - static_cast<unsigned long long>(in.tellg());
    if (nbytes > remaining)
      corrupt(path, line, entry + "the header announces " + std::to_string(nbytes) + " bytes of values but only " +
                              std::to_string(remaining) + " follow (truncated file?)");
    if (count > nbytes / (2 * lines))  // each value takes at least a digit and a separator
      corrupt(path, line, entry + "shape " + dims + " needs " + std::to_string(count) + " values, more than " +
                              std::to_string(nbytes) + " bytes can hold");
    try {
      e.dim = Dim::from_vector(ds);
    } catch (const Error& err) {
      corrupt(path, line, entry + err.what());
    }
    unsigned long long present = 0;
    for (unsigned k = 0; k < lines; ++k) {
      std::string& text = k == 0 ? values : grads;
      if (!std::getline(in, text)) corrupt(path, line + 1, entry + "the file ends before its values");
      present += text.size() + (in.eof() ? 0 : 1);
    }
    ++line;
    if (present != nbytes)
      corrupt(path, line, entry + "the header announces " + std::to_string(nbytes) +
                              " bytes of values, the file holds " + std::to_string(present) +
                              " (truncated or edited file?)");
    if (with_values) {
      e.values.reserve(count);
      bool extra = false;
      for (const char* p = values.c_str();;) {
        while (*p == ' ') ++p;
        if (!*p || *p == '\r') break;
        char* end = nullptr;
        float x = std::strtof(p, &end);
        if (end == p || (*end && *end != ' ' && *end != '\r'))
          corrupt(path, line, entry + "not a number in its values");
        if (e.values.size() == count) {
          extra = true;
          break;
        }
        e.values.push_back(x);
        p = end;
      }
      if (extra || e.values.size() != count)
        corrupt(path, line, entry + "shape " + dims + " needs " + std::to_string(count) + " values, the file holds " +
                                (extra ? "more" : std::to_string(e.values.size())));
    }
    line += lines - 1;
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

}  // namespace

std::string collection_text(const ParameterCollection& pc, const std::string& key) {
  std::string out, k = key;
  while (!k.empty() && k.back() == '/') k.pop_back();
  for (auto& p : pc.parameters_list())
    write_entry(out, "Parameter", renamed(p->name, pc.name(), k), p->dim, p->values.host());
  for (auto& p : pc.lookup_parameters_list())
    write_entry(out, "LookupParameter", renamed(p->name, pc.name(), k), p->full_dim(), p->values.host());
  return out;
}

std::string parameter_text(const ParameterStorage& p, const std::string& key) {
  std::string out;
  write_entry(out, "Parameter", key.empty() ? p.name : key, p.dim, p.values.host());
  return out;
}

std::string lookup_text(const LookupParameterStorage& p, const std::string& key) {
  std::string out;
  write_entry(out, "LookupParameter", key.empty() ? p.name : key, p.full_dim(), p.values.host());
  return out;
}

void save_collection(const ParameterCollection& pc, const std::string& path, const std::string& key,
                     bool append) {
  check_path(path, "ParameterCollection.save");
  write_file_atomically(path, existing_text(path, append) + collection_text(pc, key));
}

void save_parameter(const ParameterStorage& p, const std::string& path, const std::string& key, bool append) {
  check_path(path, "Parameters.save");
  write_file_atomically(path, existing_text(path, append) + parameter_text(p, key));
}

void save_lookup(const LookupParameterStorage& p, const std::string& path, const std::string& key, bool append) {
  check_path(path, "LookupParameters.save");
  write_file_atomically(path, existing_text(path, append) + lookup_text(p, key));
}

// Every entry is matched and checked before any value is copied: a file that
// does not fit leaves the collection unchanged.
void populate_collection(ParameterCollection& pc, const std::string& path, const std::string& key) {
  check_path(path, "ParameterCollection.populate");
  auto entries = read_entries(path);
  auto params = pc.parameters_list();
  auto lookups = pc.lookup_parameters_list();
  std::vector<std::pair<const Entry*, Resident*>> copies;
  size_t ip = 0, il = 0;
  for (auto& e : entries) {
    if (!key.empty() && e.name.compare(0, key.size(), key) != 0) continue;
    if (e.kind == "#Parameter#") {
      if (ip >= params.size()) throw ValueError(path + ": more parameters in the file than in the collection");
      check_shape(path, e, params[ip]->name, params[ip]->dim);
      copies.emplace_back(&e, &params[ip++]->values);
    } else {
      if (il >= lookups.size())
        throw ValueError(path + ": more lookup parameters in the file than in the collection");
      check_shape(path, e, lookups[il]->name, lookups[il]->full_dim());
      copies.emplace_back(&e, &lookups[il++]->values);
    }
  }
  if (ip != params.size() || il != lookups.size()) {
    const std::string& missing = ip != params.size() ? params[ip]->name : lookups[il]->name;
    throw ValueError(path + ": no entry for " + missing + " (the file holds " + std::to_string(ip) +
                     " parameters and " + std::to_string(il) + " lookup parameters for this collection, which has " +
                     std::to_string(params.size()) + " and " + std::to_string(lookups.size()) + ")");
  }
  for (auto& [e, values] : copies) {
    std::copy(e->values.begin(), e->values.end(), values->write());
    values->push();
  }
}

std::vector<SavedEntry> saved_entries(const std::string& path) {
  check_path(path, "saved_entries");
  std::vector<SavedEntry> out;
  for (auto& e : read_entries(path, false))
    out.push_back({e.kind == "#LookupParameter#", e.name, e.dim});
  return out;
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
  check_path(path, "load_param");
  auto entries = read_entries(path);
  return find_entry(entries, path, lookup ? "#LookupParameter#" : "#Parameter#", key).dim;
}

void populate_parameter(ParameterStorage& p, const std::string& path, const std::string& key) {
  check_path(path, "Parameters.populate");
  auto entries = read_entries(path);
  Entry& e = find_entry(entries, path, "#Parameter#", key);
  check_shape(path, e, p.name, p.dim);
  std::copy(e.values.begin(), e.values.end(), p.values.write());
  p.values.push();
}

void populate_lookup(LookupParameterStorage& p, const std::string& path, const std::string& key) {
  check_path(path, "LookupParameters.populate");
  auto entries = read_entries(path);
  Entry& e = find_entry(entries, path, "#LookupParameter#", key);
  check_shape(path, e, p.name, p.full_dim());
  std::copy(e.values.begin(), e.values.end(), p.values.write());
  p.values.push();
}

}  // namespace dg
