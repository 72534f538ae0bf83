#include "api/codec.h"

#include <yaml.h>

#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cmath>
#include <map>
#include <optional>

namespace skiff::api {
namespace json = boost::json;
namespace {

constexpr size_t kMaxDepth = 100;

bool allDigits(std::string_view s, bool (*digit)(char)) {
  if (s.empty()) return false;
  for (char c : s)
    if (!digit(c)) return false;
  return true;
}
bool isDec(char c) { return c >= '0' && c <= '9'; }
bool isHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool isOct(char c) { return c >= '0' && c <= '7'; }

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool isYamlFloat(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t intDigits = 0, fracDigits = 0;
  while (i < s.size() && isDec(s[i])) ++i, ++intDigits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && isDec(s[i])) ++i, ++fracDigits;
  }
  if (intDigits == 0 && fracDigits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t expDigits = 0;
    while (i < s.size() && isDec(s[i])) ++i, ++expDigits;
    if (expDigits == 0) return false;
  }
  return i == s.size();
}

bool isBin(char c) { return c == '0' || c == '1'; }

// An integer as Go's strconv.ParseInt/ParseUint(s, 0, 64) reads it once sigs.k8s.io/yaml (go-yaml
// v2) has dropped the underscores: an optional sign, then 0x/0X hex, 0o/0O or a leading 0 octal,
// 0b/0B binary, else decimal. Past int64 a non-negative value is a uint64; past that, nothing.
std::optional<json::value> resolveInteger(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  auto prefixed = [&](char letter) {
    return s.size() > 1 && s[0] == '0' && (s[1] == letter || s[1] == char(std::toupper(letter)));
  };
  int base = 10;
  bool (*digit)(char) = isDec;
  if (prefixed('x')) base = 16, digit = isHex;
  else if (prefixed('o')) base = 8, digit = isOct;
  else if (prefixed('b')) base = 2, digit = isBin;
  if (base != 10) s.remove_prefix(2);
  else if (s.size() > 1 && s[0] == '0') base = 8, digit = isOct, s.remove_prefix(1);
  if (!allDigits(s, digit)) return std::nullopt;
  uint64_t magnitude = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), magnitude, base);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  constexpr uint64_t kInt64Max = uint64_t(INT64_MAX);
  if (!negative) return magnitude <= kInt64Max ? json::value(int64_t(magnitude)) : json::value(magnitude);
  if (magnitude <= kInt64Max) return json::value(-int64_t(magnitude));
  if (magnitude == kInt64Max + 1) return json::value(INT64_MIN);
  return std::nullopt;
}

// Plain (unquoted) scalars: null and booleans by the YAML 1.2 core schema (so `yes` stays a
// string), numbers as Kubernetes reads them through go-yaml v2 (YAML 1.1): `defaultMode: 0400`
// is octal 256, as kubectl sends it, underscores are dropped, and a number past the integers
// falls through to a float.
json::value resolvePlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s == ".inf" || s == ".Inf" || s == "+.inf" || s == ".INF") return HUGE_VAL;
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") return -HUGE_VAL;
  if (isDec(s[0]) || s[0] == '-' || s[0] == '+') {
    std::string plain;
    for (char c : s)
      if (c != '_') plain += c;
    if (auto integer = resolveInteger(plain)) return *integer;
    if (isYamlFloat(plain)) return std::strtod(plain.c_str(), nullptr);
  } else if (s[0] == '.' && isYamlFloat(s)) {
    return std::strtod(s.c_str(), nullptr);
  }
  return json::string(s);
}

// Builds JSON values from libyaml's event stream. Aliases let a few bytes of YAML expand into
// exponentially many nodes ("billion laughs"), so every node produced, aliased copies included,
// is charged to a budget proportional to the input size.
class YamlBuilder {
 public:
  explicit YamlBuilder(size_t budget) : budget_(budget) {}

  // Returns false with error_ set when the document is refused.
  bool onEvent(const yaml_event_t& e) {
    switch (e.type) {
      case YAML_SCALAR_EVENT: {
        std::string text(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
        const char* tag = reinterpret_cast<const char*>(e.data.scalar.tag);
        json::value v;
        bool plain = e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (tag && std::string_view(tag) == "tag:yaml.org,2002:str") v = json::string(text);
        else if (plain || (tag && std::string_view(tag).starts_with("tag:yaml.org,2002:"))) v = resolvePlainScalar(text);
        else v = json::string(text);
        return push(std::move(v), anchorOf(e.data.scalar.anchor), 1, plain && text == "<<");
      }
      case YAML_ALIAS_EVENT: {
        auto it = anchors_.find(reinterpret_cast<const char*>(e.data.alias.anchor));
        if (it == anchors_.end()) return fail("unknown alias *" + std::string(reinterpret_cast<const char*>(e.data.alias.anchor)));
        return push(it->second.value, "", it->second.nodes, false);
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        if (stack_.size() >= kMaxDepth) return fail("document nests deeper than 100 levels");
        Frame f;
        f.isMap = e.type == YAML_MAPPING_START_EVENT;
        f.value = f.isMap ? json::value(json::object()) : json::value(json::array());
        const yaml_char_t* anchor = f.isMap ? e.data.mapping_start.anchor : e.data.sequence_start.anchor;
        f.anchor = anchorOf(anchor);
        stack_.push_back(std::move(f));
        return charge(1);
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        Frame f = std::move(stack_.back());
        stack_.pop_back();
        return push(std::move(f.value), f.anchor, f.nodes + 1, false, true);
      }
      default:
        return true;
    }
  }

  bool done() const { return done_; }
  json::value take() {
    done_ = false;
    anchors_.clear();
    return std::move(root_);
  }
  const std::string& error() const { return error_; }

 private:
  struct Frame {
    bool isMap = false;
    json::value value;
    std::string anchor;
    size_t nodes = 0;
    std::optional<std::string> pendingKey;
    bool pendingMerge = false;
  };
  struct Anchored {
    json::value value;
    size_t nodes;
  };

  static std::string anchorOf(const yaml_char_t* a) { return a ? reinterpret_cast<const char*>(a) : ""; }

  bool fail(std::string why) {
    error_ = std::move(why);
    return false;
  }
  bool charge(size_t n) {
    if (n > budget_) return fail("document expands to too many nodes (YAML aliases?); expand it or split it");
    budget_ -= n;
    return true;
  }

  // Adds a finished node to its parent (or makes it the root). `counted` is true when the node's
  // own start was already charged (containers).
  bool push(json::value v, const std::string& anchor, size_t nodes, bool isMergeKey, bool counted = false) {
    if (!counted && !charge(nodes)) return false;
    if (!anchor.empty()) anchors_[anchor] = Anchored{v, nodes};
    if (stack_.empty()) {
      root_ = std::move(v);
      done_ = true;
      return true;
    }
    Frame& parent = stack_.back();
    parent.nodes += nodes;
    if (!parent.isMap) {
      parent.value.get_array().push_back(std::move(v));
      return true;
    }
    auto& obj = parent.value.get_object();
    if (!parent.pendingKey) {
      if (isMergeKey) {
        parent.pendingKey = "<<";
        parent.pendingMerge = true;
        return true;
      }
      if (v.is_object() || v.is_array()) return fail("mapping keys must be scalars");
      parent.pendingKey = v.is_string() ? std::string(v.get_string()) : json::serialize(v);
      parent.pendingMerge = false;
      return true;
    }
    if (parent.pendingMerge) {
      // `<<: *base` (or a list of them): keys not already set come from the merged maps.
      auto mergeOne = [&](const json::value& m) {
        if (!m.is_object()) return false;
        for (const auto& kv : m.get_object())
          if (!obj.contains(kv.key())) obj[kv.key()] = kv.value();
        return true;
      };
      bool ok = v.is_array() ? std::all_of(v.get_array().begin(), v.get_array().end(), mergeOne) : mergeOne(v);
      if (!ok) return fail("a merge key (<<) needs a mapping or a list of mappings");
    } else {
      obj[*parent.pendingKey] = std::move(v);
    }
    parent.pendingKey.reset();
    return true;
  }

  size_t budget_;
  std::vector<Frame> stack_;
  std::map<std::string, Anchored> anchors_;
  json::value root_;
  bool done_ = false;
  std::string error_;
};

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

// Multi-line strings print as literal blocks (`|`, `|-`, `|+`), as go-yaml (kubectl, Helm's
// toYaml) prints them, when each line reads back unchanged: no control characters, no trailing
// spaces, and no leading space that would need an indentation indicator.
bool literalBlockFits(const json::value& v) {
  if (!v.is_string()) return false;
  std::string_view s = v.get_string();
  if (s.find('\n') == std::string_view::npos || s.front() == ' ' || s.front() == '\n') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
    if (c == '\n' && i > 0 && s[i - 1] == ' ') return false;
  }
  return s.back() != ' ';
}

void emitLiteralBlock(std::string_view s, int indent, std::string& out) {
  size_t trailing = 0;
  while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') ++trailing;
  out += trailing == 0 ? "|-\n" : trailing == 1 ? "|\n" : "|+\n";
  std::string_view body = s.substr(0, s.size() - trailing);
  size_t start = 0;
  while (true) {
    size_t nl = body.find('\n', start);
    std::string_view line = body.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (!line.empty()) out.append(size_t(indent), ' ').append(line);
    out += "\n";
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  for (size_t i = 1; i < trailing; ++i) out += "\n";
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
    if (literalBlockFits(v)) return emitLiteralBlock(v.get_string(), indent + 2, out);
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
        if (literalBlockFits(item)) {
          emitLiteralBlock(item.get_string(), indent + 2, out);
          continue;
        }
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
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return Error::internal("cannot initialise the YAML parser");
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  YamlBuilder builder(std::max<size_t>(10000, text.size() * 4));
  size_t document = 0;
  bool documentEmpty = true;
  Status status;
  while (true) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      std::string where = "line " + std::to_string(parser.problem_mark.line + 1) + ", column " +
                          std::to_string(parser.problem_mark.column + 1);
      std::string why = parser.problem ? parser.problem : "syntax error";
      if (parser.context) why = std::string(parser.context) + ": " + why;
      status = Error::badRequest("invalid YAML at " + where + ": " + why);
      break;
    }
    yaml_event_type_t type = event.type;
    if (type == YAML_DOCUMENT_START_EVENT) {
      ++document;
      documentEmpty = true;
    }
    bool ok = builder.onEvent(event);
    if (type == YAML_SCALAR_EVENT || type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT ||
        type == YAML_ALIAS_EVENT)
      documentEmpty = false;
    yaml_event_delete(&event);
    if (!ok) {
      status = Error::badRequest("document " + std::to_string(document) + ": " + builder.error());
      break;
    }
    if (type == YAML_DOCUMENT_END_EVENT && builder.done()) {
      json::value v = builder.take();
      if (!documentEmpty && !v.is_null()) expandLists(std::move(v), out);
    }
    if (type == YAML_STREAM_END_EVENT) break;
  }
  yaml_parser_delete(&parser);
  if (!status) return status.error();
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
