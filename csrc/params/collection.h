// ParameterCollection: named parameters and lookup parameters, with nested
// subcollections whose contents also belong to every ancestor.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "params/parameter.h"

namespace dg {

class ParameterCollection : public std::enable_shared_from_this<ParameterCollection> {
 public:
  explicit ParameterCollection(std::string prefix = "/") : prefix_(std::move(prefix)) {}
  virtual ~ParameterCollection() = default;

  ParamPtr add_parameters(const Dim& d, const std::string& name);
  LookupPtr add_lookup_parameters(unsigned n, const Dim& row, const std::string& name);
  std::shared_ptr<ParameterCollection> add_subcollection(const std::string& name);

  // Everything in this collection and its subcollections, in creation order.
  std::vector<ParamPtr> parameters_list() const;
  std::vector<LookupPtr> lookup_parameters_list() const;
  size_t parameter_count() const;

  const std::string& name() const { return prefix_; }
  float weight_decay = 0.f;

  // What this collection and its subcollections hold now; restore() forgets
  // everything added since (a failed load leaves the collection as it was).
  // Names handed out, and the next anonymous number ("_0", "_1", ...).
  struct Names {
    std::map<std::string, unsigned> uses;
    unsigned anonymous = 0;
  };
  struct State {
    size_t n_order = 0, n_params = 0, n_lookups = 0, n_children = 0;
    Names param_names, collection_names;
    std::vector<State> children;
  };
  State checkpoint() const;
  void restore(const State& s);

 private:
  static std::string unique_name(const std::string& name, Names& names);
  std::string prefix_;
  // As DyNet, parameters (with lookup parameters) and subcollections are named apart:
  // "/_0" and "/_0/" can both exist ("/x" and "/x/..." never clash).
  Names param_names_, collection_names_;
  // Creation order of own entries: (kind, index) with kind 0 param, 1 lookup, 2 subcollection.
  std::vector<std::pair<int, size_t>> order_;
  std::vector<ParamPtr> params_;
  std::vector<LookupPtr> lookups_;
  std::vector<std::shared_ptr<ParameterCollection>> children_;
};

}  // namespace dg
