#include "api/codec.h"

#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <regex>

namespace skiff::api {
namespace json = boost::json;
namespace {

constexpr size_t kMaxDepth = 100;

// YAML 1.2 core schema resolution for plain (unquoted) scalars.
json::value resolvePlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  static const std::regex intRe("[-+]?[0-9]+");
  static const std::regex hexRe("0x[0-9a-fA-F]+");
  static const std::regex octRe("0o[0-7]+");
  static const std::regex floatRe(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(s, intRe)) {
    int64_t v = 0;
    const char* b = s.data() + (s[0] == '+' ? 1 : 0);
    auto [p, ec] = std::from_chars(b, s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size()) return v;
    return std::strtod(s.c_str(), nullptr);  // out of int64 range
  }
  if (std::regex_match(s, hexRe)) return int64_t(std::strtoll(s.c_str() + 2, nullptr, 16));
  if (std::regex_match(s, octRe)) return int64_t(std::strtoll(s.c_str() + 2, nullptr, 8));
  if (std::regex_match(s, floatRe)) return std::strtod(s.c_str(), nullptr);
  if (s == ".inf" || s == ".Inf" || s == "+.inf") return HUGE_VAL;
  if (s == "-.inf" || s == "-.Inf") return -HUGE_VAL;
  return json::string(s);
}

Result<json::value> yamlToJson(const YAML::Node& node, size_t depth) {
  if (depth > kMaxDepth) return Error::badRequest("document nests deeper than 100 levels");
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return json::value(nullptr);
    case YAML::NodeType::Scalar:
      // yaml-cpp tags plain scalars "?" and quoted or block scalars "!".
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return json::value(json::string(node.Scalar()));
      return resolvePlainScalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      json::array arr;
      arr.reserve(node.size());
      for (const auto& child : node) {
        auto v = yamlToJson(child, depth + 1);
        if (!v) return v;
        arr.push_back(std::move(*v));
      }
      return json::value(std::move(arr));
    }
    case YAML::NodeType::Map: {
      json::object obj;
      for (const auto& kv : node) {
        if (!kv.first.IsScalar())
          return Error::badRequest("line " + std::to_string(kv.first.Mark().line + 1) +
                                   ": mapping keys must be scalars");
        auto v = yamlToJson(kv.second, depth + 1);
        if (!v) return v;
        obj[kv.first.Scalar()] = std::move(*v);
      }
      return json::value(std::move(obj));
    }
  }
  return json::value(nullptr);
}

void expandLists(json::value v, std::vector<json::value>& out) {
  if (auto* o = v.if_object()) {
    auto kind = o->find("kind");
    auto items = o->find("items");
    if (kind != o->end() && kind->value().is_string() && items != o->end() && items->value().is_array()) {
      std::string_view k = kind->value().get_string();
      if (k.size() >= 4 && k.substr(k.size() - 4) == "List") {
        for (auto& item : items->value().get_array()) expandLists(std::move(item), out);
        return;
      }
    }
  }
  out.push_back(std::move(v));
}

bool looksLikeJson(std::string_view text) {
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    return c == '{' || c == '[';
  }
  return false;
}

bool needsQuotes(std::string_view s) {
  if (s.empty()) return true;
  if (resolvePlainScalar(std::string(s)).kind() != json::kind::string) return true;
  static const std::string_view special = "-?:,[]{}#&*!|>'\"%@`";
  if (special.find(s.front()) != std::string_view::npos) return true;
  if (s.front() == ' ' || s.back() == ' ') return true;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if (c < 0x20 || c == 0x7f) return true;
    if (c == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) return true;
    if (c == '#' && i > 0 && s[i - 1] == ' ') return true;
  }
  // YAML 1.1 readers (kubectl, Go yaml.v2) read these as booleans.
  static const char* yaml11[] = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
                                 "on", "On", "ON", "off", "Off", "OFF"};
  for (const char* w : yaml11)
    if (s == w) return true;
  return false;
}

void emitScalar(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::null: out += "null"; break;
    case json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case json::kind::string: {
      std::string_view s = v.get_string();
      if (needsQuotes(s)) out += json::serialize(v);  // a JSON string is a valid YAML scalar
      else out += s;
      break;
    }
    default: out += json::serialize(v);
  }
}

bool isEmptyCollection(const json::value& v) {
  return (v.is_object() && v.get_object().empty()) || (v.is_array() && v.get_array().empty());
}

void emitYaml(const json::value& v, int indent, std::string& out);

void emitKeyValue(std::string_view key, const json::value& v, int indent, std::string& out) {
  out.append(indent, ' ');
  emitScalar(json::value(json::string(key)), out);
  out += ":";
  if ((v.is_object() || v.is_array()) && !isEmptyCollection(v)) {
    out += "\n";
    // Sequences under a key sit at the key's indentation, as kubectl prints them.
    emitYaml(v, v.is_array() ? indent : indent + 2, out);
  } else {
    out += " ";
    if (isEmptyCollection(v)) out += v.is_object() ? "{}" : "[]";
    else emitScalar(v, out);
    out += "\n";
  }
}

void emitYaml(const json::value& v, int indent, std::string& out) {
  if (v.is_object()) {
    for (const auto& kv : v.get_object()) emitKeyValue(kv.key(), kv.value(), indent, out);
  } else if (v.is_array()) {
    for (const auto& item : v.get_array()) {
      out.append(indent, ' ');
      out += "-";
      if (item.is_object() && !item.get_object().empty()) {
        // First key on the dash line, the rest aligned under it.
        std::string nested;
        emitYaml(item, indent + 2, nested);
        out += nested.substr(indent + 1);
      } else if (item.is_array() && !item.get_array().empty()) {
        out += "\n";
        emitYaml(item, indent + 2, out);
      } else {
        out += " ";
        if (isEmptyCollection(item)) out += item.is_object() ? "{}" : "[]";
        else emitScalar(item, out);
        out += "\n";
      }
    }
  } else {
    out.append(indent, ' ');
    emitScalar(v, out);
    out += "\n";
  }
}

void prettyJson(const json::value& v, int indent, std::string& out) {
  auto pad = [&](int n) { out.append(n, ' '); };
  if (v.is_object() && !v.get_object().empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& kv : v.get_object()) {
      if (!first) out += ",\n";
      first = false;
      pad(indent + 4);
      out += json::serialize(json::value(kv.key()));
      out += ": ";
      prettyJson(kv.value(), indent + 4, out);
    }
    out += "\n";
    pad(indent);
    out += "}";
  } else if (v.is_array() && !v.get_array().empty()) {
    out += "[\n";
    bool first = true;
    for (const auto& item : v.get_array()) {
      if (!first) out += ",\n";
      first = false;
      pad(indent + 4);
      prettyJson(item, indent + 4, out);
    }
    out += "\n";
    pad(indent);
    out += "]";
  } else {
    out += json::serialize(v);
  }
}

}  // namespace

Result<json::value> decodeJson(std::string_view text) {
  json::parse_options opts;
  opts.max_depth = kMaxDepth;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) return Error::badRequest("invalid JSON: " + ec.message());
  return v;
}

Result<std::vector<json::value>> decodeManifests(std::string_view text) {
  std::vector<json::value> out;
  if (looksLikeJson(text)) {
    // A stream of JSON objects is allowed too (kubectl accepts concatenated JSON).
    json::parse_options opts;
    opts.max_depth = kMaxDepth;
    json::stream_parser p({}, opts);
    size_t pos = 0;
    while (pos < text.size()) {
      while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
      if (pos == text.size()) break;
      boost::system::error_code ec;
      size_t used = p.write_some(text.data() + pos, text.size() - pos, ec);
      if (ec) return Error::badRequest("invalid JSON: " + ec.message());
      pos += used;
      if (!p.done()) {
        p.finish(ec);
        if (ec) return Error::badRequest("invalid JSON: " + ec.message());
      }
      expandLists(p.release(), out);
      p.reset();
    }
    return out;
  }
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(std::string(text));
    for (size_t i = 0; i < docs.size(); ++i) {
      if (docs[i].IsNull()) continue;
      auto v = yamlToJson(docs[i], 0);
      if (!v) return Error::badRequest("document " + std::to_string(i + 1) + ": " + v.error().message);
      expandLists(std::move(*v), out);
    }
  } catch (const YAML::Exception& e) {
    return Error::badRequest("invalid YAML at line " + std::to_string(e.mark.line + 1) + ", column " +
                             std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  return out;
}

std::string toYaml(const json::value& value) {
  std::string out;
  emitYaml(value, 0, out);
  return out;
}

std::string toJson(const json::value& value) { return json::serialize(value); }

std::string toPrettyJson(const json::value& value) {
  std::string out;
  prettyJson(value, 0, out);
  out += "\n";
  return out;
}

}  // namespace skiff::api
