// Label and field selectors, parsed from their query-string form or from a LabelSelector object.
// Pure functions over plain data: no I/O.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "common/result.h"

namespace skiff::api {

struct Requirement {
  enum class Op { Equals, NotEquals, In, NotIn, Exists, DoesNotExist, Gt, Lt };
  std::string key;
  Op op = Op::Equals;
  std::vector<std::string> values;
};

class LabelSelector {
 public:
  // "app=web,tier!=db,env in (prod,staging),!legacy"
  static Result<LabelSelector> parse(std::string_view text);
  // A metav1.LabelSelector object: matchLabels + matchExpressions.
  static Result<LabelSelector> fromObject(const boost::json::value& selector);

  bool matches(const boost::json::value* labels) const;  // labels: object or null
  bool empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }
  // The query-string form parse() reads back (what a client sends as labelSelector=).
  std::string text() const;

 private:
  std::vector<Requirement> requirements_;
};

class FieldSelector {
 public:
  // "metadata.name=x,spec.nodeName!=" — only =, == and != exist for fields.
  static Result<FieldSelector> parse(std::string_view text);
  bool matches(const boost::json::value& object) const;
  bool empty() const { return requirements_.empty(); }
  // The value required for `field` with '=' if any (lets a list narrow by name cheaply).
  const std::string* equalityValue(std::string_view field) const;
  // The query-string form parse() reads back (what a client sends as fieldSelector=).
  std::string text() const;

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace skiff::api
