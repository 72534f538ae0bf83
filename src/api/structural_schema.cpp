#include "api/structural_schema.h"

#include <arpa/inet.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <set>

#include "api/object.h"
#include "common/base64.h"

namespace skiff::api {
namespace json = boost::json;
using Type = StructuralSchema::Type;

namespace {

std::string child(const std::string& path, std::string_view field) {
  return path.empty() ? std::string(field) : path + "." + std::string(field);
}
std::string index(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

// --- compiling --------------------------------------------------------------------------------

struct Compiler {
  std::vector<FieldCause> refusals;
  std::vector<std::string> rules;

  void refuse(const std::string& path, std::string message, const char* reason = "FieldValueInvalid") {
    refusals.push_back({reason, std::move(message), path});
  }

  std::optional<double> number(const json::object& o, std::string_view key, const std::string& path) {
    const json::value* v = o.if_contains(key);
    if (!v) return std::nullopt;
    if (v->is_int64()) return double(v->get_int64());
    if (v->is_uint64()) return double(v->get_uint64());
    if (v->is_double()) return v->get_double();
    refuse(child(path, key), "must be a number");
    return std::nullopt;
  }
  std::optional<int64_t> count(const json::object& o, std::string_view key, const std::string& path) {
    auto n = number(o, key, path);
    if (!n) return std::nullopt;
    if (*n < 0 || std::floor(*n) != *n) {
      refuse(child(path, key), "must be a non-negative integer");
      return std::nullopt;
    }
    return int64_t(*n);
  }
  bool flag(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v && v->is_bool() && v->get_bool();
  }

  // `valueValidation`: inside allOf/anyOf/oneOf/not, where structural schemas carry no types.
  StructuralSchema compile(const json::value& in, const std::string& path, bool valueValidation) {
    StructuralSchema s;
    if (!in.is_object()) {
      refuse(path, "must be an object (a JSON schema)");
      return s;
    }
    const json::object& o = in.get_object();
    if (auto* d = o.if_contains("description"); d && d->is_string()) s.description = std::string(d->get_string());
    std::string type;
    if (auto* t = o.if_contains("type")) {
      if (t->is_string()) type = std::string(t->get_string());
      else refuse(child(path, "type"), "must be a string");
    }
    static const std::map<std::string, Type, std::less<>> kTypes{{"object", Type::Object},   {"array", Type::Array},
                                                                 {"string", Type::String},   {"integer", Type::Integer},
                                                                 {"number", Type::Number},   {"boolean", Type::Boolean}};
    if (!type.empty()) {
      auto it = kTypes.find(type);
      if (it == kTypes.end())
        refuse(child(path, "type"), "Unsupported value: \"" + type + "\": supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\"",
               "FieldValueNotSupported");
      else s.type = it->second;
    }
    s.nullable = flag(o, "nullable");
    s.intOrString = flag(o, "x-kubernetes-int-or-string");
    s.preserveUnknown = flag(o, "x-kubernetes-preserve-unknown-fields");
    s.embeddedResource = flag(o, "x-kubernetes-embedded-resource");
    if (!valueValidation && s.type == Type::Unset && !s.intOrString && !s.preserveUnknown)
      refuse(child(path, "type"), "Required value: must not be empty for specified object fields", "FieldValueRequired");
    if (s.intOrString && s.type != Type::Unset)
      refuse(child(path, "type"), "must be empty when x-kubernetes-int-or-string is true");
    if (auto* f = o.if_contains("format"); f && f->is_string()) s.format = std::string(f->get_string());

    if (auto* props = o.if_contains("properties")) {
      if (!props->is_object()) refuse(child(path, "properties"), "must be an object");
      else
        for (const auto& kv : props->get_object())
          s.properties.emplace(std::string(kv.key()),
                               compile(kv.value(), path + ".properties[" + std::string(kv.key()) + "]", valueValidation));
    }
    if (auto* ap = o.if_contains("additionalProperties")) {
      if (ap->is_bool()) {
        if (ap->get_bool() && !valueValidation) s.preserveUnknown = true;
      } else {
        s.additionalProperties = std::make_shared<StructuralSchema>(compile(*ap, child(path, "additionalProperties"), valueValidation));
      }
      if (!s.properties.empty() && !(ap->is_bool() && !ap->get_bool()))
        refuse(child(path, "additionalProperties"), "Forbidden: additionalProperties and properties are mutual exclusive", "FieldValueForbidden");
    }
    if (auto* items = o.if_contains("items")) {
      if (items->is_array()) refuse(child(path, "items"), "must be a schema, not an array of schemas");
      else s.items = std::make_shared<StructuralSchema>(compile(*items, child(path, "items"), valueValidation));
    } else if (s.type == Type::Array && !valueValidation) {
      refuse(child(path, "items"), "Required value: must be specified", "FieldValueRequired");
    }
    if (auto* req = o.if_contains("required"); req && req->is_array())
      for (const auto& r : req->get_array())
        if (r.is_string()) s.required.emplace_back(r.get_string());
    if (auto* e = o.if_contains("enum"); e && e->is_array())
      for (const auto& v : e->get_array()) s.enumValues.push_back(v);
    s.minimum = number(o, "minimum", path);
    s.maximum = number(o, "maximum", path);
    s.multipleOf = number(o, "multipleOf", path);
    if (s.multipleOf && *s.multipleOf <= 0) refuse(child(path, "multipleOf"), "must be greater than 0");
    s.exclusiveMinimum = flag(o, "exclusiveMinimum");
    s.exclusiveMaximum = flag(o, "exclusiveMaximum");
    s.minLength = count(o, "minLength", path);
    s.maxLength = count(o, "maxLength", path);
    s.minItems = count(o, "minItems", path);
    s.maxItems = count(o, "maxItems", path);
    s.minProperties = count(o, "minProperties", path);
    s.maxProperties = count(o, "maxProperties", path);
    s.uniqueItems = flag(o, "uniqueItems");
    if (s.uniqueItems && !valueValidation)
      refuse(child(path, "uniqueItems"), "Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic; use x-kubernetes-list-type: set",
             "FieldValueForbidden");
    if (auto* p = o.if_contains("pattern"); p && p->is_string()) {
      s.pattern = std::string(p->get_string());
      try {
        s.patternRegex = std::make_shared<const std::regex>(s.pattern, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        refuse(child(path, "pattern"), "Invalid value: \"" + s.pattern + "\": skiff cannot compile this pattern as an ECMAScript regular expression (" +
                                           e.what() + "); rewrite it without RE2-only syntax such as (?i)");
      }
    }
    if (auto* lt = o.if_contains("x-kubernetes-list-type"); lt && lt->is_string()) {
      s.listType = std::string(lt->get_string());
      if (s.listType != "atomic" && s.listType != "set" && s.listType != "map")
        refuse(child(path, "x-kubernetes-list-type"), "Unsupported value: \"" + s.listType + "\": supported values: \"atomic\", \"map\", \"set\"",
               "FieldValueNotSupported");
    }
    if (auto* keys = o.if_contains("x-kubernetes-list-map-keys"); keys && keys->is_array())
      for (const auto& k : keys->get_array())
        if (k.is_string()) s.listMapKeys.emplace_back(k.get_string());
    if (s.listType == "map" && s.listMapKeys.empty())
      refuse(child(path, "x-kubernetes-list-map-keys"), "Required value: must not be empty if x-kubernetes-list-type is map", "FieldValueRequired");
    if (auto* d = o.if_contains("default")) {
      if (valueValidation) refuse(child(path, "default"), "Forbidden: must not be set inside allOf, anyOf, oneOf or not", "FieldValueForbidden");
      else s.defaultValue = *d;
    }
    auto compileAll = [&](std::string_view key, std::vector<StructuralSchema>& out) {
      if (auto* a = o.if_contains(key); a && a->is_array())
        for (size_t i = 0; i < a->get_array().size(); ++i)
          out.push_back(compile(a->get_array()[i], index(child(path, key), i), true));
    };
    compileAll("allOf", s.allOf);
    compileAll("anyOf", s.anyOf);
    compileAll("oneOf", s.oneOf);
    if (auto* n = o.if_contains("not")) s.notSchema = std::make_shared<StructuralSchema>(compile(*n, child(path, "not"), true));
    if (auto* rules = o.if_contains("x-kubernetes-validations"); rules && rules->is_array() && !rules->get_array().empty())
      this->rules.push_back(child(path, "x-kubernetes-validations"));
    return s;
  }
};

// --- pruning and defaults -------------------------------------------------------------------

// The schema that governs `key` in an object, or nullptr if the key is unknown there.
const StructuralSchema* fieldSchema(const StructuralSchema& s, std::string_view key) {
  if (auto it = s.properties.find(key); it != s.properties.end()) return &it->second;
  if (s.additionalProperties) return s.additionalProperties.get();
  return nullptr;
}

void prune(const StructuralSchema& s, json::value& v, const std::string& path, bool root, std::vector<std::string>& pruned) {
  if (s.intOrString) return;
  if (v.is_object()) {
    auto& o = v.get_object();
    std::vector<std::string> drop;
    for (auto& kv : o) {
      bool meta = (root || s.embeddedResource) && (kv.key() == "apiVersion" || kv.key() == "kind" || kv.key() == "metadata");
      const StructuralSchema* fs = fieldSchema(s, kv.key());
      if (fs) prune(*fs, kv.value(), child(path, kv.key()), false, pruned);
      else if (!meta && !s.preserveUnknown) drop.emplace_back(kv.key());
    }
    for (const auto& k : drop) {
      o.erase(k);
      pruned.push_back(child(path, k));
    }
  } else if (v.is_array() && s.items) {
    auto& a = v.get_array();
    for (size_t i = 0; i < a.size(); ++i) prune(*s.items, a[i], index(path, i), false, pruned);
  }
}

void defaults(const StructuralSchema& s, json::value& v) {
  if (v.is_object()) {
    auto& o = v.get_object();
    for (const auto& [name, fs] : s.properties) {
      json::value* have = o.if_contains(name);
      if ((!have || (have->is_null() && !fs.nullable)) && fs.defaultValue) {
        o[name] = *fs.defaultValue;
        have = o.if_contains(name);
      }
      if (have) defaults(fs, *have);
    }
    if (s.additionalProperties)
      for (auto& kv : o)
        if (!s.properties.contains(kv.key())) defaults(*s.additionalProperties, kv.value());
  } else if (v.is_array() && s.items) {
    for (auto& e : v.get_array()) defaults(*s.items, e);
  }
}

// --- validation -----------------------------------------------------------------------------

const char* typeName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "boolean";
    case json::kind::int64:
    case json::kind::uint64: return "integer";
    case json::kind::double_: return std::floor(v.get_double()) == v.get_double() ? "integer" : "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
  }
  return "unknown";
}
const char* typeName(Type t) {
  switch (t) {
    case Type::Object: return "object";
    case Type::Array: return "array";
    case Type::String: return "string";
    case Type::Integer: return "integer";
    case Type::Number: return "number";
    case Type::Boolean: return "boolean";
    case Type::Unset: return "";
  }
  return "";
}

bool hasType(const json::value& v, Type t) {
  switch (t) {
    case Type::Unset: return true;
    case Type::Object: return v.is_object();
    case Type::Array: return v.is_array();
    case Type::String: return v.is_string();
    case Type::Boolean: return v.is_bool();
    case Type::Number: return v.is_number();
    case Type::Integer:
      return v.is_int64() || v.is_uint64() || (v.is_double() && std::floor(v.get_double()) == v.get_double());
  }
  return false;
}

// A number as Go prints it: the shortest form that reads back, no exponent for everyday sizes.
std::string shownNumber(double d) {
  if (std::floor(d) == d && std::fabs(d) < 1e15) return std::to_string(int64_t(d));
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

// How Kubernetes shows a value in an error: strings quoted, the rest as JSON.
std::string shown(const json::value& v) { return v.is_double() ? shownNumber(v.get_double()) : json::serialize(v); }

double asDouble(const json::value& v) {
  if (v.is_int64()) return double(v.get_int64());
  if (v.is_uint64()) return double(v.get_uint64());
  return v.get_double();
}

bool matchesFormat(const std::string& format, const std::string& s) {
  unsigned char buf[16];
  if (format == "date-time" || format == "datetime") return parseRfc3339(s) >= 0;
  if (format == "date") return s.size() == 10 && parseRfc3339(s + "T00:00:00Z") >= 0;
  if (format == "byte") return base64Decode(s).has_value();
  if (format == "ipv4") return inet_pton(AF_INET, s.c_str(), buf) == 1;
  if (format == "ipv6") return inet_pton(AF_INET6, s.c_str(), buf) == 1;
  if (format == "cidr") {
    auto slash = s.find('/');
    if (slash == std::string::npos || slash + 1 >= s.size()) return false;
    std::string ip = s.substr(0, slash), bits = s.substr(slash + 1);
    if (bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), ::isdigit)) return false;
    int n = std::stoi(bits);
    if (inet_pton(AF_INET, ip.c_str(), buf) == 1) return n <= 32;
    return inet_pton(AF_INET6, ip.c_str(), buf) == 1 && n <= 128;
  }
  if (format == "uuid") {
    if (s.size() != 36) return false;
    for (size_t i = 0; i < s.size(); ++i)
      if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
    return true;
  }
  if (format == "mac") {
    if (s.size() != 17) return false;
    for (size_t i = 0; i < s.size(); ++i)
      if (i % 3 == 2 ? (s[i] != ':' && s[i] != '-') : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
    return true;
  }
  if (format == "hostname") {
    if (s.empty() || s.size() > 253) return false;
    size_t start = 0;
    while (start <= s.size()) {
      size_t dot = s.find('.', start);
      std::string_view label(s.data() + start, (dot == std::string::npos ? s.size() : dot) - start);
      if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
      for (char c : label)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return true;
  }
  return true;
}

struct Validator {
  std::vector<FieldCause> causes;

  void invalid(const std::string& path, const json::value& v, const std::string& detail) {
    causes.push_back({"FieldValueInvalid", "Invalid value: " + shown(v) + ": " + detail, path});
  }

  void check(const StructuralSchema& s, const json::value& v, const std::string& path) {
    const std::string where = path.empty() ? std::string("body") : path;
    if (v.is_null()) {
      if (!s.nullable && s.type != Type::Unset)
        invalid(path, v, where + " in body must be of type " + typeName(s.type) + ": \"null\"");
      return;
    }
    if (s.intOrString) {
      if (!hasType(v, Type::Integer) && !v.is_string())
        invalid(path, v, where + " in body must be of type integer,string: \"" + typeName(v) + "\"");
    } else if (!hasType(v, s.type)) {
      invalid(path, v, where + " in body must be of type " + typeName(s.type) + ": \"" + typeName(v) + "\"");
      return;
    }
    if (!s.enumValues.empty() && std::find(s.enumValues.begin(), s.enumValues.end(), v) == s.enumValues.end()) {
      std::string list;
      for (const auto& e : s.enumValues) list += (list.empty() ? "" : ", ") + shown(e);
      causes.push_back({"FieldValueNotSupported", "Unsupported value: " + shown(v) + ": supported values: " + list, path});
    }
    if (v.is_number()) checkNumber(s, v, path, where);
    if (v.is_string()) checkString(s, v, path, where);
    if (v.is_array()) checkArray(s, v, path, where);
    if (v.is_object()) checkObject(s, v, path, where);
    for (const auto& sub : s.allOf) check(sub, v, path);
    if (!s.anyOf.empty() || !s.oneOf.empty()) {
      size_t anyOk = 0, oneOk = 0;
      for (const auto& sub : s.anyOf) anyOk += passes(sub, v, path);
      for (const auto& sub : s.oneOf) oneOk += passes(sub, v, path);
      if (!s.anyOf.empty() && anyOk == 0) invalid(path, v, where + " in body must match at least one schema in anyOf");
      if (!s.oneOf.empty() && oneOk != 1) invalid(path, v, where + " in body must match exactly one schema in oneOf");
    }
    if (s.notSchema && passes(*s.notSchema, v, path)) invalid(path, v, where + " in body must not validate the schema (not)");
  }

  bool passes(const StructuralSchema& s, const json::value& v, const std::string& path) {
    Validator inner;
    inner.check(s, v, path);
    return inner.causes.empty();
  }

  void checkNumber(const StructuralSchema& s, const json::value& v, const std::string& path, const std::string& where) {
    double d = asDouble(v);
    auto num = [](double x) { return shownNumber(x); };
    if (s.minimum && (s.exclusiveMinimum ? d <= *s.minimum : d < *s.minimum))
      invalid(path, v, where + " in body should be greater than " + (s.exclusiveMinimum ? "" : "or equal to ") + num(*s.minimum));
    if (s.maximum && (s.exclusiveMaximum ? d >= *s.maximum : d > *s.maximum))
      invalid(path, v, where + " in body should be less than " + (s.exclusiveMaximum ? "" : "or equal to ") + num(*s.maximum));
    if (s.multipleOf && std::fabs(std::remainder(d, *s.multipleOf)) > 1e-9)
      invalid(path, v, where + " in body should be a multiple of " + num(*s.multipleOf));
    if (s.format == "int32" && hasType(v, Type::Integer) && (d < -2147483648.0 || d > 2147483647.0))
      invalid(path, v, where + " in body must be of type int32");
  }

  void checkString(const StructuralSchema& s, const json::value& v, const std::string& path, const std::string& where) {
    std::string str(v.get_string());
    // Lengths count characters (UTF-8 code points), as Go's utf8.RuneCountInString.
    int64_t chars = 0;
    for (unsigned char c : str) chars += (c & 0xC0) != 0x80;
    if (s.maxLength && chars > *s.maxLength)
      causes.push_back({"FieldValueTooLong", "Too long: may not be longer than " + std::to_string(*s.maxLength), path});
    if (s.minLength && chars < *s.minLength)
      invalid(path, v, where + " in body should be at least " + std::to_string(*s.minLength) + " chars long");
    if (s.patternRegex) {
      if (str.size() > kMaxPatternSubject)
        invalid(path, json::value(str.substr(0, 64) + "..."),
                where + " is longer than the " + std::to_string(kMaxPatternSubject) + " bytes skiff matches against the pattern '" + s.pattern + "'");
      else if (!std::regex_search(str, *s.patternRegex))
        invalid(path, v, where + " in body should match '" + s.pattern + "'");
    }
    if (!s.format.empty() && !matchesFormat(s.format, str))
      invalid(path, v, where + " in body must be of type " + s.format + ": " + shown(v));
  }

  void checkArray(const StructuralSchema& s, const json::value& v, const std::string& path, const std::string& where) {
    const auto& a = v.get_array();
    if (s.maxItems && int64_t(a.size()) > *s.maxItems)
      causes.push_back({"FieldValueTooMany", "Too many: " + std::to_string(a.size()) + ": must have at most " + std::to_string(*s.maxItems) + " items", path});
    if (s.minItems && int64_t(a.size()) < *s.minItems)
      invalid(path, v, where + " in body should have at least " + std::to_string(*s.minItems) + " items");
    if (s.items)
      for (size_t i = 0; i < a.size(); ++i) check(*s.items, a[i], index(path, i));
    if (s.uniqueItems || s.listType == "set") {
      std::set<std::string> seen;
      for (size_t i = 0; i < a.size(); ++i)
        if (!seen.insert(json::serialize(a[i])).second)
          causes.push_back({"FieldValueDuplicate", "Duplicate value: " + shown(a[i]), index(path, i)});
    }
    if (s.listType == "map") {
      std::set<std::string> seen;
      for (size_t i = 0; i < a.size(); ++i) {
        if (!a[i].is_object()) continue;
        json::object key;
        for (const auto& k : s.listMapKeys)
          if (const json::value* kv = a[i].get_object().if_contains(k)) key[k] = *kv;
        if (!seen.insert(json::serialize(key)).second)
          causes.push_back({"FieldValueDuplicate", "Duplicate value: " + json::serialize(key), index(path, i)});
      }
    }
  }

  void checkObject(const StructuralSchema& s, const json::value& v, const std::string& path, const std::string& where) {
    const auto& o = v.get_object();
    for (const auto& r : s.required)
      if (!o.contains(r)) causes.push_back({"FieldValueRequired", "Required value", child(path, r)});
    if (s.maxProperties && int64_t(o.size()) > *s.maxProperties)
      causes.push_back({"FieldValueTooMany", "Too many: " + std::to_string(o.size()) + ": must have at most " + std::to_string(*s.maxProperties) + " items", path});
    if (s.minProperties && int64_t(o.size()) < *s.minProperties)
      invalid(path, v, where + " in body should have at least " + std::to_string(*s.minProperties) + " properties");
    for (const auto& kv : o) {
      if (path.empty() && (kv.key() == "apiVersion" || kv.key() == "kind" || kv.key() == "metadata")) continue;
      if (const StructuralSchema* fs = fieldSchema(s, kv.key())) check(*fs, kv.value(), child(path, kv.key()));
    }
  }
};

}  // namespace

Result<CompiledSchema> compileSchema(const json::value& openAPIV3Schema, const std::string& path) {
  Compiler c;
  StructuralSchema root = c.compile(openAPIV3Schema, path, false);
  if (c.refusals.empty() && root.type != Type::Object)
    c.refuse(child(path, "type"), "Invalid value: \"" + std::string(typeName(root.type)) + "\": must be object at the root");
  if (!c.refusals.empty()) {
    std::string msg;
    for (const auto& r : c.refusals) msg += (msg.empty() ? "" : ", ") + r.field + ": " + r.message;
    Error e = Error::invalid(msg);
    e.causes = std::move(c.refusals);
    return e;
  }
  return CompiledSchema{std::make_shared<const StructuralSchema>(std::move(root)), std::move(c.rules)};
}

void pruneUnknown(const StructuralSchema& schema, json::value& object, std::vector<std::string>& pruned) {
  prune(schema, object, "", true, pruned);
}

void applySchemaDefaults(const StructuralSchema& schema, json::value& object) { defaults(schema, object); }

std::vector<FieldCause> validateValue(const StructuralSchema& schema, const json::value& value, const std::string& path) {
  Validator v;
  v.check(schema, value, path);
  return std::move(v.causes);
}

const json::value* valueAtJsonPath(const json::value& object, std::string_view jsonPath) {
  if (jsonPath.starts_with("{") && jsonPath.ends_with("}")) jsonPath = jsonPath.substr(1, jsonPath.size() - 2);
  const json::value* at = &object;
  size_t i = 0;
  while (i < jsonPath.size()) {
    if (jsonPath[i] == '.') {
      ++i;
      size_t j = i;
      while (j < jsonPath.size() && jsonPath[j] != '.' && jsonPath[j] != '[') ++j;
      if (j == i) return nullptr;
      if (!at->is_object()) return nullptr;
      at = at->get_object().if_contains(jsonPath.substr(i, j - i));
      if (!at) return nullptr;
      i = j;
    } else if (jsonPath[i] == '[') {
      size_t close = jsonPath.find(']', i);
      if (close == std::string_view::npos || !at->is_array()) return nullptr;
      std::string n(jsonPath.substr(i + 1, close - i - 1));
      if (n.empty() || !std::all_of(n.begin(), n.end(), ::isdigit) || n.size() > 9) return nullptr;
      size_t k = std::stoul(n);
      if (k >= at->get_array().size()) return nullptr;
      at = &at->get_array()[k];
      i = close + 1;
    } else {
      return nullptr;
    }
  }
  return at;
}

}  // namespace skiff::api
