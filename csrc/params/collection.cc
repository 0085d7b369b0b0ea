#include "params/collection.h"

#include "core/pool.h"

namespace dg {

std::string ParameterCollection::unique_name(const std::string& name, Names& names) {
  if (name.find('/') != std::string::npos)
    throw ValueError("parameter and collection names may not contain '/': " + name);
  std::string base = name.empty() ? "_" + std::to_string(names.anonymous++) : name;
  // Every name handed out is a key of names.uses, so "a", "a", "a_1" give a, a_1,
  // a_1_1 (DyNet forbids '_' in names instead; here they stay unique).
  unsigned& uses = names.uses[base];
  std::string full = base;
  if (uses > 0) {
    auto taken = [&names](const std::string& n) { auto it = names.uses.find(n); return it != names.uses.end() && it->second > 0; };
    do full = base + "_" + std::to_string(uses++); while (taken(full));
    ++names.uses[full];
  } else {
    uses = 1;
  }
  return full;
}

ParamPtr ParameterCollection::add_parameters(const Dim& d, const std::string& name) {
  check_allocation(2 * sizeof(float) * d.size(), ("add_parameters " + d.str()).c_str());  // values and gradient
  auto p = std::make_shared<ParameterStorage>(prefix_ + unique_name(name, param_names_), d);
  order_.emplace_back(0, params_.size());
  params_.push_back(p);
  return p;
}

LookupPtr ParameterCollection::add_lookup_parameters(unsigned n, const Dim& row, const std::string& name) {
  if (n == 0) throw ValueError("a lookup parameter needs at least one row");
  if (row.size() > kMaxElements / n)
    throw OverflowError("add_lookup_parameters: " + std::to_string(n) + " rows of shape " + row.str() +
                        " are more than 2^60 values");
  check_allocation(2 * sizeof(float) * row.size() * n,
                   ("add_lookup_parameters (" + std::to_string(n) + " rows of " + row.str() + ")").c_str());
  auto p = std::make_shared<LookupParameterStorage>(prefix_ + unique_name(name, param_names_), row, n);
  order_.emplace_back(1, lookups_.size());
  lookups_.push_back(p);
  return p;
}

std::shared_ptr<ParameterCollection> ParameterCollection::add_subcollection(const std::string& name) {
  auto c = std::make_shared<ParameterCollection>(prefix_ + unique_name(name, collection_names_) + "/");
  order_.emplace_back(2, children_.size());
  children_.push_back(c);
  return c;
}

std::vector<ParamPtr> ParameterCollection::parameters_list() const {
  std::vector<ParamPtr> out;
  for (auto [kind, i] : order_) {
    if (kind == 0) out.push_back(params_[i]);
    if (kind == 2) {
      auto sub = children_[i]->parameters_list();
      out.insert(out.end(), sub.begin(), sub.end());
    }
  }
  return out;
}

std::vector<LookupPtr> ParameterCollection::lookup_parameters_list() const {
  std::vector<LookupPtr> out;
  for (auto [kind, i] : order_) {
    if (kind == 1) out.push_back(lookups_[i]);
    if (kind == 2) {
      auto sub = children_[i]->lookup_parameters_list();
      out.insert(out.end(), sub.begin(), sub.end());
    }
  }
  return out;
}

size_t ParameterCollection::parameter_count() const {
  size_t n = 0;
  for (auto& p : parameters_list()) n += p->values.size();
  for (auto& p : lookup_parameters_list()) n += p->values.size();
  return n;
}

ParameterCollection::State ParameterCollection::checkpoint() const {
  State s;
  s.n_order = order_.size();
  s.n_params = params_.size();
  s.n_lookups = lookups_.size();
  s.n_children = children_.size();
  s.param_names = param_names_;
  s.collection_names = collection_names_;
  for (auto& c : children_) s.children.push_back(c->checkpoint());
  return s;
}

void ParameterCollection::restore(const State& s) {
  order_.resize(s.n_order);
  params_.resize(s.n_params);
  lookups_.resize(s.n_lookups);
  children_.resize(s.n_children);
  param_names_ = s.param_names;
  collection_names_ = s.collection_names;
  for (size_t i = 0; i < s.children.size(); ++i) children_[i]->restore(s.children[i]);
}

}  // namespace dg
