#include "auth/rbac_rules.h"

#include <algorithm>

#include <boost/json.hpp>

namespace skiff::auth {
namespace json = boost::json;
namespace {

bool has(const std::vector<std::string>& list, const std::string& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}
bool hasOrStar(const std::vector<std::string>& list, const std::string& v) { return has(list, "*") || has(list, v); }

// A rule's URL pattern covers `path`: equal, "*", or a prefix pattern ending in "*".
bool urlMatches(const std::string& pattern, const std::string& path) {
  if (pattern == "*" || pattern == path) return true;
  return pattern.ends_with('*') && path.starts_with(std::string_view(pattern).substr(0, pattern.size() - 1));
}

// `combined` is "resource" or "resource/subresource".
bool resourceMatches(const std::vector<std::string>& ruleResources, const std::string& combined) {
  if (hasOrStar(ruleResources, combined)) return true;
  auto slash = combined.find('/');
  return slash != std::string::npos && has(ruleResources, "*" + combined.substr(slash));
}


void readStrings(const json::object& rule, const char* key, const std::string& path, std::vector<std::string>& out,
                 std::vector<FieldCause>& causes) {
  auto* v = rule.if_contains(key);
  if (!v || v->is_null()) return;
  if (!v->is_array()) {
    causes.push_back({"FieldValueInvalid", "must be a list of strings", path + "." + key});
    return;
  }
  const auto& arr = v->get_array();
  for (std::size_t i = 0; i < arr.size(); ++i) {
    if (!arr[i].is_string()) {
      causes.push_back({"FieldValueInvalid", "must be a string", path + "." + key + "[" + std::to_string(i) + "]"});
      continue;
    }
    out.emplace_back(arr[i].get_string());
  }
}

void validateRule(const PolicyRule& r, const std::string& path, bool namespaced, std::vector<FieldCause>& causes) {
  if (r.verbs.empty()) causes.push_back({"FieldValueRequired", "verbs must contain at least one value", path + ".verbs"});
  if (!r.nonResourceURLs.empty()) {
    if (namespaced)
      causes.push_back({"FieldValueInvalid", "namespaced rules cannot apply to non-resource URLs", path + ".nonResourceURLs"});
    if (!r.apiGroups.empty() || !r.resources.empty())
      causes.push_back({"FieldValueInvalid", "rules cannot apply to both regular resources and non-resource URLs",
                        path + ".nonResourceURLs"});
    return;
  }
  if (r.apiGroups.empty())
    causes.push_back({"FieldValueRequired", "resource rules must supply at least one api group", path + ".apiGroups"});
  if (r.resources.empty())
    causes.push_back({"FieldValueRequired", "resource rules must supply at least one resource", path + ".resources"});
}

std::string quotedList(const char* name, const std::vector<std::string>& v) {
  if (v.empty()) return "";
  std::string s = std::string(name) + ":[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", \"" : "\"") + v[i] + "\"";
  return s + "]";
}

// Each requested rule split into atoms of one verb, group, resource and name (or URL), so that
// coverage can be decided atom by atom against any of the owner's rules.
std::vector<PolicyRule> atomsOf(const PolicyRule& r) {
  std::vector<PolicyRule> out;
  for (const auto& verb : r.verbs) {
    for (const auto& url : r.nonResourceURLs) out.push_back({{verb}, {}, {}, {}, {url}});
    for (const auto& group : r.apiGroups)
      for (const auto& res : r.resources) {
        if (r.resourceNames.empty()) out.push_back({{verb}, {group}, {res}, {}, {}});
        for (const auto& name : r.resourceNames) out.push_back({{verb}, {group}, {res}, {name}, {}});
      }
  }
  return out;
}

bool covers(const PolicyRule& owner, const PolicyRule& atom) {
  if (!hasOrStar(owner.verbs, atom.verbs[0])) return false;
  if (!atom.nonResourceURLs.empty())
    return std::any_of(owner.nonResourceURLs.begin(), owner.nonResourceURLs.end(),
                       [&](const std::string& p) { return urlMatches(p, atom.nonResourceURLs[0]); });
  if (!hasOrStar(owner.apiGroups, atom.apiGroups[0])) return false;
  if (!resourceMatches(owner.resources, atom.resources[0])) return false;
  // An owner limited to names covers only requests limited to those names.
  if (owner.resourceNames.empty()) return true;
  return !atom.resourceNames.empty() && has(owner.resourceNames, atom.resourceNames[0]);
}

}  // namespace

Result<std::vector<PolicyRule>> parsePolicyRules(const json::value* rules, const std::string& field, bool namespaced) {
  std::vector<PolicyRule> out;
  if (!rules || rules->is_null()) return out;
  if (!rules->is_array()) {
    Error e = Error::invalid(field + ": Invalid value: must be a list of rules");
    e.causes.push_back({"FieldValueInvalid", "must be a list of rules", field});
    return e;
  }
  std::vector<FieldCause> causes;
  const auto& arr = rules->get_array();
  for (std::size_t i = 0; i < arr.size(); ++i) {
    std::string path = field + "[" + std::to_string(i) + "]";
    if (!arr[i].is_object()) {
      causes.push_back({"FieldValueInvalid", "must be an object", path});
      continue;
    }
    const auto& o = arr[i].get_object();
    PolicyRule r;
    readStrings(o, "verbs", path, r.verbs, causes);
    readStrings(o, "apiGroups", path, r.apiGroups, causes);
    readStrings(o, "resources", path, r.resources, causes);
    readStrings(o, "resourceNames", path, r.resourceNames, causes);
    readStrings(o, "nonResourceURLs", path, r.nonResourceURLs, causes);
    validateRule(r, path, namespaced, causes);
    out.push_back(std::move(r));
  }
  if (causes.empty()) return out;
  std::string msg;
  for (const auto& c : causes) {
    if (!msg.empty()) msg += ", ";
    msg += c.field + ": " + (c.reason == "FieldValueRequired" ? "Required value: " : "Invalid value: ") + c.message;
  }
  Error e = Error::invalid(msg);
  e.causes = std::move(causes);
  return e;
}

bool ruleAllows(const PolicyRule& rule, const RequestInfo& r) {
  if (!hasOrStar(rule.verbs, r.verb)) return false;
  if (!r.isResource)
    return std::any_of(rule.nonResourceURLs.begin(), rule.nonResourceURLs.end(),
                       [&](const std::string& p) { return urlMatches(p, r.path); });
  if (!hasOrStar(rule.apiGroups, r.apiGroup)) return false;
  std::string combined = r.subresource.empty() ? r.resource : r.resource + "/" + r.subresource;
  if (!resourceMatches(rule.resources, combined)) return false;
  return rule.resourceNames.empty() || has(rule.resourceNames, r.name);
}

bool rulesAllow(const std::vector<PolicyRule>& rules, const RequestInfo& r) {
  return std::any_of(rules.begin(), rules.end(), [&](const PolicyRule& rule) { return ruleAllows(rule, r); });
}

std::vector<PolicyRule> uncoveredRules(const std::vector<PolicyRule>& owner, const std::vector<PolicyRule>& requested) {
  std::vector<PolicyRule> missing;
  for (const auto& rule : requested)
    for (auto& atom : atomsOf(rule))
      if (std::none_of(owner.begin(), owner.end(), [&](const PolicyRule& o) { return covers(o, atom); }))
        missing.push_back(std::move(atom));
  return missing;
}

std::string compactString(const PolicyRule& r) {
  std::string s;
  for (auto part : {quotedList("APIGroups", r.apiGroups), quotedList("Resources", r.resources),
                    quotedList("ResourceNames", r.resourceNames), quotedList("NonResourceURLs", r.nonResourceURLs),
                    quotedList("Verbs", r.verbs)})
    if (!part.empty()) s += (s.empty() ? "" : ", ") + part;
  return "{" + s + "}";
}

}  // namespace skiff::auth
