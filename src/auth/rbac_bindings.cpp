#include "auth/rbac_bindings.h"

#include <algorithm>

#include <boost/json.hpp>

namespace skiff::auth {
namespace json = boost::json;
namespace {

std::string stringField(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

void check(bool ok, std::vector<FieldCause>& causes, const char* reason, std::string message, std::string field) {
  if (!ok) causes.push_back({reason, std::move(message), std::move(field)});
}

RoleRef roleRefOf(const json::object& o, bool namespaced, std::vector<FieldCause>& causes) {
  const json::value* ref = o.if_contains("roleRef");
  if (!ref || !ref->is_object()) {
    causes.push_back({"FieldValueRequired", "Required value", "roleRef"});
    return {};
  }
  const auto& r = ref->get_object();
  RoleRef out{stringField(r, "kind"), stringField(r, "name")};
  check(stringField(r, "apiGroup") == kRbacGroup, causes, "FieldValueNotSupported",
        "supported values: \"rbac.authorization.k8s.io\"", "roleRef.apiGroup");
  if (namespaced)
    check(out.kind == "Role" || out.kind == "ClusterRole", causes, "FieldValueNotSupported",
          "supported values: \"Role\", \"ClusterRole\"", "roleRef.kind");
  else
    check(out.kind == "ClusterRole", causes, "FieldValueNotSupported", "supported values: \"ClusterRole\"", "roleRef.kind");
  check(!out.name.empty(), causes, "FieldValueRequired", "Required value", "roleRef.name");
  return out;
}

Subject subjectOf(const json::value& v, const std::string& path, bool namespaced, std::vector<FieldCause>& causes) {
  if (!v.is_object()) {
    causes.push_back({"FieldValueInvalid", "must be an object", path});
    return {};
  }
  const auto& o = v.get_object();
  Subject s{stringField(o, "kind"), stringField(o, "name"), stringField(o, "namespace")};
  std::string group = stringField(o, "apiGroup");
  check(!s.name.empty(), causes, "FieldValueRequired", "Required value", path + ".name");
  if (s.kind == "ServiceAccount") {
    check(group.empty(), causes, "FieldValueNotSupported", "supported values: \"\"", path + ".apiGroup");
    check(namespaced || !s.ns.empty(), causes, "FieldValueRequired", "Required value", path + ".namespace");
  } else if (s.kind == "User" || s.kind == "Group") {
    check(group == kRbacGroup, causes, "FieldValueNotSupported", "supported values: \"rbac.authorization.k8s.io\"",
          path + ".apiGroup");
  } else {
    causes.push_back({"FieldValueNotSupported", "supported values: \"ServiceAccount\", \"User\", \"Group\"", path + ".kind"});
  }
  return s;
}

std::string prefixOf(const std::string& reason) {
  if (reason == "FieldValueRequired") return "";  // the message already says "Required value"
  if (reason == "FieldValueNotSupported") return "Unsupported value: ";
  return "Invalid value: ";
}

}  // namespace

Result<BindingSpec> parseBinding(const json::value& binding, bool namespaced) {
  if (!binding.is_object()) return Error::badRequest("a binding must be a JSON object");
  const auto& o = binding.get_object();
  std::vector<FieldCause> causes;
  BindingSpec out;
  out.roleRef = roleRefOf(o, namespaced, causes);
  if (auto* subjects = o.if_contains("subjects"); subjects && !subjects->is_null()) {
    if (!subjects->is_array()) {
      causes.push_back({"FieldValueInvalid", "must be a list of subjects", "subjects"});
    } else {
      const auto& arr = subjects->get_array();
      for (std::size_t i = 0; i < arr.size(); ++i)
        out.subjects.push_back(subjectOf(arr[i], "subjects[" + std::to_string(i) + "]", namespaced, causes));
    }
  }
  if (causes.empty()) return out;
  std::string msg;
  for (const auto& c : causes) msg += (msg.empty() ? "" : ", ") + c.field + ": " + prefixOf(c.reason) + c.message;
  Error e = Error::invalid(msg);
  e.causes = std::move(causes);
  return e;
}

bool appliesTo(const Subject& s, const UserInfo& user, const std::string& bindingNamespace) {
  if (s.kind == "User") return s.name == user.name;
  if (s.kind == "Group") return user.inGroup(s.name);
  if (s.kind == "ServiceAccount") {
    const std::string& ns = s.ns.empty() ? bindingNamespace : s.ns;
    return !ns.empty() && user.name == "system:serviceaccount:" + ns + ":" + s.name;
  }
  return false;
}

bool appliesTo(const BindingSpec& b, const UserInfo& user, const std::string& bindingNamespace) {
  return std::any_of(b.subjects.begin(), b.subjects.end(),
                     [&](const Subject& s) { return appliesTo(s, user, bindingNamespace); });
}

}  // namespace skiff::auth
