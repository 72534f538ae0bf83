#include "helm/functions.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

#include <boost/json.hpp>

#include "api/codec.h"
#include "common/base64.h"
#include "image/digest.h"

namespace skiff::helm {
namespace json = boost::json;

namespace {

using Args = std::vector<Value>;

// Sprig's toString: strings as they are, nil as "", everything else as fmt's %v.
std::string str(const Value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_null()) return "";
  return formatValue(v);
}

Result<Value> need(const std::string& name, const Args& a, size_t n) {
  if (a.size() != n)
    return Error::invalid("wrong number of args for " + name + ": want " + std::to_string(n) + " got " + std::to_string(a.size()));
  return Value();
}
#define NEED(n)                                           \
  if (auto w = need(name, a, n); !w.ok()) return w.error()

// cast.ToInt64 as sprig uses it: numbers truncate, numeric strings parse, others are 0.
int64_t toInt(const Value& v) {
  switch (v.kind()) {
    case json::kind::int64: return v.get_int64();
    case json::kind::uint64: return int64_t(v.get_uint64());
    case json::kind::double_: return std::isfinite(v.get_double()) ? int64_t(v.get_double()) : 0;
    case json::kind::bool_: return v.get_bool() ? 1 : 0;
    case json::kind::string: {
      std::string s(v.get_string());
      char* end = nullptr;
      long long x = std::strtoll(s.c_str(), &end, 0);
      if (!s.empty() && *end == '\0') return x;
      double d = std::strtod(s.c_str(), &end);
      return (!s.empty() && *end == '\0') ? int64_t(d) : 0;
    }
    default: return 0;
  }
}
double toFloat(const Value& v) {
  switch (v.kind()) {
    case json::kind::int64: return double(v.get_int64());
    case json::kind::uint64: return double(v.get_uint64());
    case json::kind::double_: return v.get_double();
    case json::kind::bool_: return v.get_bool() ? 1 : 0;
    case json::kind::string: {
      std::string s(v.get_string());
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      return (!s.empty() && *end == '\0') ? d : 0;
    }
    default: return 0;
  }
}

json::array toList(const Value& v) {
  if (v.is_array()) return v.get_array();
  if (v.is_null()) return {};
  return json::array{v};
}

Value sortKeys(const Value& v) {
  if (v.is_object()) {
    std::vector<std::string> keys;
    for (const auto& kv : v.get_object()) keys.emplace_back(kv.key());
    std::sort(keys.begin(), keys.end());
    json::object o;
    for (const auto& k : keys) o[k] = sortKeys(v.get_object().at(k));
    return o;
  }
  if (v.is_array()) {
    json::array a;
    for (const auto& e : v.get_array()) a.push_back(sortKeys(e));
    return a;
  }
  // Go's json encoder writes an integral float64 without a fraction: 3, not 3.0.
  if (v.is_double() && std::floor(v.get_double()) == v.get_double() && std::fabs(v.get_double()) < 1e21)
    return Value(int64_t(v.get_double()));
  return v;
}

std::string indentLines(const std::string& s, int64_t n) {
  std::string pad(size_t(std::max<int64_t>(0, std::min<int64_t>(n, 4096))), ' ');
  std::string out = pad;
  for (char c : s) {
    out += c;
    if (c == '\n') out += pad;
  }
  return out;
}

void deepMerge(json::object& dst, const json::object& src, bool overwrite) {
  for (const auto& kv : src) {
    auto* d = dst.if_contains(kv.key());
    if (!d) {
      dst[kv.key()] = kv.value();
    } else if (d->is_object() && kv.value().is_object()) {
      deepMerge(d->get_object(), kv.value().get_object(), overwrite);
    } else if (overwrite || d->is_null()) {
      *d = kv.value();
    }
  }
}

bool isEmpty(const Value& v) { return !isTrue(v); }

// A subset of Masterminds/semver constraints: comparisons (=, !=, >, <, >=, <=, ~, ^), ranges
// separated by spaces or commas (and), alternatives by ||. Enough for `semverCompare ">=1.19-0"`.
struct Version {
  int64_t major = 0, minor = 0, patch = 0;
  std::string pre;
};
std::optional<Version> parseVersion(std::string s) {
  if (!s.empty() && (s[0] == 'v' || s[0] == 'V')) s = s.substr(1);
  Version v;
  size_t plus = s.find('+');
  if (plus != std::string::npos) s = s.substr(0, plus);
  size_t dash = s.find('-');
  if (dash != std::string::npos) { v.pre = s.substr(dash + 1); s = s.substr(0, dash); }
  int64_t* parts[3] = {&v.major, &v.minor, &v.patch};
  size_t i = 0, p = 0;
  while (p <= s.size() && i < 3) {
    size_t q = s.find('.', p);
    std::string n = s.substr(p, q == std::string::npos ? std::string::npos : q - p);
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) {
      if (n == "x" || n == "X" || n == "*") break;
      return std::nullopt;
    }
    *parts[i++] = std::stoll(n.substr(0, 18));
    if (q == std::string::npos) break;
    p = q + 1;
  }
  if (i == 0) return std::nullopt;
  return v;
}
int compareVersions(const Version& a, const Version& b) {
  if (a.major != b.major) return a.major < b.major ? -1 : 1;
  if (a.minor != b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch != b.patch) return a.patch < b.patch ? -1 : 1;
  if (a.pre == b.pre) return 0;
  if (a.pre.empty()) return 1;
  if (b.pre.empty()) return -1;
  return a.pre < b.pre ? -1 : 1;
}
Result<bool> semverMatches(const std::string& constraint, const std::string& version) {
  auto ver = parseVersion(version);
  if (!ver) return Error::invalid("Invalid Semantic Version");
  size_t start = 0;
  while (start <= constraint.size()) {
    size_t bar = constraint.find("||", start);
    std::string alt = constraint.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
    bool all = true;
    std::string tok;
    std::vector<std::string> terms;
    for (char c : alt + " ") {
      if (c == ' ' || c == ',') { if (!tok.empty()) terms.push_back(tok); tok.clear(); }
      else tok += c;
    }
    // Join an operator written apart from its version (">= 1.2").
    std::vector<std::string> joined;
    for (const auto& t : terms) {
      if (!joined.empty() && joined.back().find_first_not_of("<>=!~^") == std::string::npos) joined.back() += t;
      else joined.push_back(t);
    }
    for (const auto& t : joined) {
      size_t opLen = t.find_first_not_of("<>=!~^");
      if (opLen == std::string::npos) return Error::invalid("improper constraint: " + constraint);
      std::string op = t.substr(0, opLen);
      auto c = parseVersion(t.substr(opLen));
      if (!c) return Error::invalid("improper constraint: " + constraint);
      // A version with a prerelease only satisfies constraints that carry one (semver's rule).
      Version v = *ver;
      if (!v.pre.empty() && c->pre.empty()) { all = false; break; }
      int cmp = compareVersions(v, *c);
      bool ok = false;
      if (op.empty() || op == "=") ok = cmp == 0;
      else if (op == "!=") ok = cmp != 0;
      else if (op == ">") ok = cmp > 0;
      else if (op == "<") ok = cmp < 0;
      else if (op == ">=" || op == "=>") ok = cmp >= 0;
      else if (op == "<=" || op == "=<") ok = cmp <= 0;
      else if (op == "~") ok = cmp >= 0 && v.major == c->major && v.minor == c->minor;
      else if (op == "^") ok = cmp >= 0 && v.major == c->major;
      else return Error::invalid("improper constraint: " + constraint);
      if (!ok) { all = false; break; }
    }
    if (all) return true;
    if (bar == std::string::npos) break;
    start = bar + 2;
  }
  return false;
}

std::string titleCase(const std::string& s) {
  std::string o = s;
  bool start = true;
  for (char& c : o) {
    if (std::isspace((unsigned char)c)) { start = true; continue; }
    if (start) c = char(std::toupper((unsigned char)c));
    start = false;
  }
  return o;
}

std::string trimSet(const std::string& s, const std::string& cut, bool left, bool right) {
  size_t b = 0, e = s.size();
  while (left && b < e && cut.find(s[b]) != std::string::npos) b++;
  while (right && e > b && cut.find(s[e - 1]) != std::string::npos) e--;
  return s.substr(b, e - b);
}

// libstdc++'s regex matcher recurses per character: long subjects would overflow the stack.
Status regexInputsFit(const std::string& pattern, const std::string& subject) {
  if (pattern.size() > 1024 || subject.size() > 16384)
    return Error::invalid("regex input too long for skiff (pattern 1 KiB, text 16 KiB at most)");
  return {};
}

void add(FunctionMap& m, const std::string& name, std::function<Result<Value>(Args&)> fn) {
  m[name] = [fn](Executor&, Args& a) { return fn(a); };
}

}  // namespace

Value asHelmValues(const Value& v) {
  if (v.is_int64()) return Value(double(v.get_int64()));
  if (v.is_uint64()) return Value(double(v.get_uint64()));
  if (v.is_array()) {
    json::array a;
    for (const auto& e : v.get_array()) a.push_back(asHelmValues(e));
    return a;
  }
  if (v.is_object()) {
    json::object o;
    for (const auto& kv : v.get_object()) o[kv.key()] = asHelmValues(kv.value());
    return o;
  }
  return v;
}

FunctionMap sprigFunctions() {
  FunctionMap m;
  // --- defaults and flow
  add(m, "default", [](Args& a) -> Result<Value> {
    if (a.empty() || a.size() > 2) return Error::invalid("wrong number of args for default: want 2 got " + std::to_string(a.size()));
    if (a.size() == 1) return a[0];
    return isEmpty(a[1]) ? a[0] : a[1];
  });
  add(m, "empty", [](Args& a) -> Result<Value> { std::string name = "empty"; NEED(1); return Value(isEmpty(a[0])); });
  add(m, "coalesce", [](Args& a) -> Result<Value> {
    for (auto& v : a) if (!isEmpty(v)) return v;
    return Value();
  });
  add(m, "ternary", [](Args& a) -> Result<Value> { std::string name = "ternary"; NEED(3); return isTrue(a[2]) ? a[0] : a[1]; });
  // Helm marks fail/required messages so the renderer can print just them ("execution error at").
  add(m, "fail", [](Args& a) -> Result<Value> { return Error::invalid("HELM_ERR_START" + (a.empty() ? "" : str(a[0])) + "HELM_ERR_END"); });
  // --- strings
  add(m, "quote", [](Args& a) -> Result<Value> {
    std::string o;
    for (size_t i = 0; i < a.size(); i++) {
      if (a[i].is_null()) continue;
      if (!o.empty()) o += ' ';
      o += goSprintf("%q", {Value(str(a[i]))});
    }
    return Value(o);
  });
  add(m, "squote", [](Args& a) -> Result<Value> {
    std::string o;
    for (auto& v : a) {
      if (v.is_null()) continue;
      if (!o.empty()) o += ' ';
      o += "'" + str(v) + "'";
    }
    return Value(o);
  });
  auto mapStr = [&m](const std::string& name, std::function<std::string(std::string)> f) {
    add(m, name, [name, f](Args& a) -> Result<Value> { NEED(1); return Value(f(str(a[0]))); });
  };
  mapStr("upper", [](std::string s) { for (auto& c : s) c = char(std::toupper((unsigned char)c)); return s; });
  mapStr("lower", [](std::string s) { for (auto& c : s) c = char(std::tolower((unsigned char)c)); return s; });
  mapStr("title", titleCase);
  mapStr("trim", [](std::string s) { return trimSet(s, " \t\r\n\v\f", true, true); });
  mapStr("b64enc", [](std::string s) { return base64Encode(s); });
  mapStr("sha256sum", [](std::string s) {
    std::string d = image::sha256Of(s);
    return d.substr(d.find(':') + 1);
  });
  mapStr("toString", [](std::string s) { return s; });
  add(m, "b64dec", [](Args& a) -> Result<Value> {
    std::string name = "b64dec";
    NEED(1);
    auto d = base64Decode(str(a[0]));
    return Value(d ? *d : std::string("illegal base64 data at input byte 0"));
  });
  add(m, "trimAll", [](Args& a) -> Result<Value> { std::string name = "trimAll"; NEED(2); return Value(trimSet(str(a[1]), str(a[0]), true, true)); });
  add(m, "trimPrefix", [](Args& a) -> Result<Value> {
    std::string name = "trimPrefix";
    NEED(2);
    std::string p = str(a[0]), s = str(a[1]);
    return Value(s.rfind(p, 0) == 0 ? s.substr(p.size()) : s);
  });
  add(m, "trimSuffix", [](Args& a) -> Result<Value> {
    std::string name = "trimSuffix";
    NEED(2);
    std::string p = str(a[0]), s = str(a[1]);
    return Value(s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0 ? s.substr(0, s.size() - p.size()) : s);
  });
  add(m, "trunc", [](Args& a) -> Result<Value> {
    std::string name = "trunc";
    NEED(2);
    int64_t n = toInt(a[0]);
    std::string s = str(a[1]);
    if (n >= 0) return Value(s.substr(0, std::min<size_t>(size_t(n), s.size())));
    size_t k = size_t(-n);
    return Value(k >= s.size() ? s : s.substr(s.size() - k));
  });
  add(m, "replace", [](Args& a) -> Result<Value> {
    std::string name = "replace";
    NEED(3);
    std::string from = str(a[0]), to = str(a[1]), s = str(a[2]), o;
    if (from.empty()) return Value(s);
    size_t p = 0;
    while (true) {
      size_t q = s.find(from, p);
      if (q == std::string::npos) { o += s.substr(p); break; }
      o += s.substr(p, q - p) + to;
      p = q + from.size();
    }
    return Value(o);
  });
  add(m, "contains", [](Args& a) -> Result<Value> { std::string name = "contains"; NEED(2); return Value(str(a[1]).find(str(a[0])) != std::string::npos); });
  add(m, "hasPrefix", [](Args& a) -> Result<Value> { std::string name = "hasPrefix"; NEED(2); return Value(str(a[1]).rfind(str(a[0]), 0) == 0); });
  add(m, "hasSuffix", [](Args& a) -> Result<Value> {
    std::string name = "hasSuffix";
    NEED(2);
    std::string p = str(a[0]), s = str(a[1]);
    return Value(s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0);
  });
  add(m, "indent", [](Args& a) -> Result<Value> { std::string name = "indent"; NEED(2); return Value(indentLines(str(a[1]), toInt(a[0]))); });
  add(m, "nindent", [](Args& a) -> Result<Value> { std::string name = "nindent"; NEED(2); return Value("\n" + indentLines(str(a[1]), toInt(a[0]))); });
  add(m, "repeat", [](Args& a) -> Result<Value> {
    std::string name = "repeat";
    NEED(2);
    int64_t n = toInt(a[0]);
    std::string s = str(a[1]);
    if (n < 0 || uint64_t(n) * s.size() > (16u << 20)) return Error::invalid("repeat: result too large");
    std::string o;
    for (int64_t i = 0; i < n; i++) o += s;
    return Value(o);
  });
  add(m, "join", [](Args& a) -> Result<Value> {
    std::string name = "join";
    NEED(2);
    std::string o;
    bool first = true;
    for (auto& e : toList(a[1])) {
      if (!first) o += str(a[0]);
      first = false;
      o += str(e);
    }
    return Value(o);
  });
  auto splitOn = [](const std::string& sep, const std::string& s) {
    std::vector<std::string> parts;
    if (sep.empty()) {
      for (char c : s) parts.emplace_back(1, c);
      return parts;
    }
    size_t p = 0;
    while (true) {
      size_t q = s.find(sep, p);
      parts.push_back(s.substr(p, q == std::string::npos ? std::string::npos : q - p));
      if (q == std::string::npos) break;
      p = q + sep.size();
    }
    return parts;
  };
  add(m, "splitList", [splitOn](Args& a) -> Result<Value> {
    std::string name = "splitList";
    NEED(2);
    json::array o;
    for (auto& p : splitOn(str(a[0]), str(a[1]))) o.emplace_back(p);
    return Value(o);
  });
  add(m, "split", [splitOn](Args& a) -> Result<Value> {
    std::string name = "split";
    NEED(2);
    json::object o;
    auto parts = splitOn(str(a[0]), str(a[1]));
    for (size_t i = 0; i < parts.size(); i++) o["_" + std::to_string(i)] = parts[i];
    return Value(o);
  });
  add(m, "regexMatch", [](Args& a) -> Result<Value> {
    std::string name = "regexMatch";
    NEED(2);
    if (auto st = regexInputsFit(str(a[0]), str(a[1])); !st.ok()) return st.error();
    try {
      return Value(std::regex_search(str(a[1]), std::regex(str(a[0]), std::regex::ECMAScript)));
    } catch (const std::regex_error& e) {
      return Error::invalid("error parsing regexp: " + std::string(e.what()));
    }
  });
  add(m, "regexReplaceAll", [](Args& a) -> Result<Value> {
    std::string name = "regexReplaceAll";
    NEED(3);
    if (auto st = regexInputsFit(str(a[0]), str(a[1])); !st.ok()) return st.error();
    try {
      // Go's ${1} / $1 expansion reads the same as ECMAScript's $1.
      std::string repl = std::regex_replace(str(a[2]), std::regex(R"(\$\{(\d+)\})"), "$$$1");
      return Value(std::regex_replace(str(a[1]), std::regex(str(a[0]), std::regex::ECMAScript), repl));
    } catch (const std::regex_error& e) {
      return Error::invalid("error parsing regexp: " + std::string(e.what()));
    }
  });
  // --- numbers: sprig's arithmetic works on int64 (cast.ToInt64), max/min too.
  add(m, "int", [](Args& a) -> Result<Value> { std::string name = "int"; NEED(1); return Value(toInt(a[0])); });
  add(m, "int64", [](Args& a) -> Result<Value> { std::string name = "int64"; NEED(1); return Value(toInt(a[0])); });
  add(m, "float64", [](Args& a) -> Result<Value> { std::string name = "float64"; NEED(1); return Value(toFloat(a[0])); });
  add(m, "atoi", [](Args& a) -> Result<Value> {
    std::string name = "atoi";
    NEED(1);
    std::string s = str(a[0]);
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    return Value(int64_t(!s.empty() && *end == '\0' ? v : 0));
  });
  auto arith = [&m](const std::string& name, std::function<Result<int64_t>(int64_t, int64_t)> f) {
    add(m, name, [name, f](Args& a) -> Result<Value> {
      NEED(2);
      auto r = f(toInt(a[0]), toInt(a[1]));
      if (!r.ok()) return r.error();
      return Value(*r);
    });
  };
  arith("add", [](int64_t x, int64_t y) -> Result<int64_t> { return int64_t(uint64_t(x) + uint64_t(y)); });
  arith("sub", [](int64_t x, int64_t y) -> Result<int64_t> { return int64_t(uint64_t(x) - uint64_t(y)); });
  arith("mul", [](int64_t x, int64_t y) -> Result<int64_t> { return int64_t(uint64_t(x) * uint64_t(y)); });
  arith("div", [](int64_t x, int64_t y) -> Result<int64_t> {
    if (y == 0) return Error::invalid("runtime error: integer divide by zero");
    if (x == INT64_MIN && y == -1) return x;
    return x / y;
  });
  arith("mod", [](int64_t x, int64_t y) -> Result<int64_t> {
    if (y == 0) return Error::invalid("runtime error: integer divide by zero");
    if (y == -1) return int64_t(0);
    return x % y;
  });
  add(m, "add1", [](Args& a) -> Result<Value> { std::string name = "add1"; NEED(1); return Value(int64_t(uint64_t(toInt(a[0])) + 1)); });
  add(m, "max", [](Args& a) -> Result<Value> {
    if (a.empty()) return Error::invalid("wrong number of args for max: want at least 1 got 0");
    int64_t v = toInt(a[0]);
    for (auto& e : a) v = std::max(v, toInt(e));
    return Value(v);
  });
  add(m, "min", [](Args& a) -> Result<Value> {
    if (a.empty()) return Error::invalid("wrong number of args for min: want at least 1 got 0");
    int64_t v = toInt(a[0]);
    for (auto& e : a) v = std::min(v, toInt(e));
    return Value(v);
  });
  // --- lists
  add(m, "list", [](Args& a) -> Result<Value> { return Value(json::array(a.begin(), a.end())); });
  add(m, "first", [](Args& a) -> Result<Value> { std::string name = "first"; NEED(1); auto l = toList(a[0]); return l.empty() ? Value() : l.front(); });
  add(m, "last", [](Args& a) -> Result<Value> { std::string name = "last"; NEED(1); auto l = toList(a[0]); return l.empty() ? Value() : l.back(); });
  add(m, "rest", [](Args& a) -> Result<Value> { std::string name = "rest"; NEED(1); auto l = toList(a[0]); if (!l.empty()) l.erase(l.begin()); return Value(l); });
  add(m, "initial", [](Args& a) -> Result<Value> { std::string name = "initial"; NEED(1); auto l = toList(a[0]); if (!l.empty()) l.pop_back(); return Value(l); });
  add(m, "append", [](Args& a) -> Result<Value> {
    std::string name = "append";
    NEED(2);
    if (!a[0].is_array() && !a[0].is_null()) return Error::invalid("Cannot push on type " + std::string(a[0].is_object() ? "map" : "scalar"));
    auto l = toList(a[0]);
    l.push_back(a[1]);
    return Value(l);
  });
  m["mustAppend"] = m["append"];
  add(m, "prepend", [](Args& a) -> Result<Value> { std::string name = "prepend"; NEED(2); auto l = toList(a[0]); l.insert(l.begin(), a[1]); return Value(l); });
  add(m, "concat", [](Args& a) -> Result<Value> {
    json::array o;
    for (auto& l : a) for (auto& e : toList(l)) o.push_back(e);
    return Value(o);
  });
  add(m, "uniq", [](Args& a) -> Result<Value> {
    std::string name = "uniq";
    NEED(1);
    json::array o;
    for (auto& e : toList(a[0])) if (std::find(o.begin(), o.end(), e) == o.end()) o.push_back(e);
    return Value(o);
  });
  add(m, "has", [](Args& a) -> Result<Value> {
    std::string name = "has";
    NEED(2);
    auto l = toList(a[1]);
    return Value(std::find(l.begin(), l.end(), a[0]) != l.end());
  });
  add(m, "without", [](Args& a) -> Result<Value> {
    if (a.empty()) return Error::invalid("wrong number of args for without: want at least 1 got 0");
    json::array o;
    for (auto& e : toList(a[0])) if (std::find(a.begin() + 1, a.end(), e) == a.end()) o.push_back(e);
    return Value(o);
  });
  add(m, "compact", [](Args& a) -> Result<Value> {
    std::string name = "compact";
    NEED(1);
    json::array o;
    for (auto& e : toList(a[0])) if (!isEmpty(e)) o.push_back(e);
    return Value(o);
  });
  add(m, "reverse", [](Args& a) -> Result<Value> { std::string name = "reverse"; NEED(1); auto l = toList(a[0]); std::reverse(l.begin(), l.end()); return Value(l); });
  add(m, "sortAlpha", [](Args& a) -> Result<Value> {
    std::string name = "sortAlpha";
    NEED(1);
    std::vector<std::string> s;
    for (auto& e : toList(a[0])) s.push_back(str(e));
    std::sort(s.begin(), s.end());
    json::array o;
    for (auto& e : s) o.emplace_back(e);
    return Value(o);
  });
  add(m, "until", [](Args& a) -> Result<Value> {
    std::string name = "until";
    NEED(1);
    int64_t n = std::min<int64_t>(toInt(a[0]), 1'000'000);
    json::array o;
    for (int64_t i = 0; i < n; i++) o.emplace_back(i);
    return Value(o);
  });
  // --- dicts
  add(m, "dict", [](Args& a) -> Result<Value> {
    json::object o;
    for (size_t i = 0; i < a.size(); i += 2) o[str(a[i])] = i + 1 < a.size() ? a[i + 1] : Value("");
    return Value(o);
  });
  add(m, "get", [](Args& a) -> Result<Value> {
    std::string name = "get";
    NEED(2);
    if (!a[0].is_object()) return Value("");
    const Value* v = a[0].get_object().if_contains(str(a[1]));
    return v ? *v : Value("");
  });
  // set/unset mutate the map in Go; values here are copies, so the executor writes the result
  // back when the map argument is a variable ($d, $.Values.x) — see writeBack in template.cpp.
  add(m, "set", [](Args& a) -> Result<Value> {
    std::string name = "set";
    NEED(3);
    if (!a[0].is_object()) return Error::invalid("set: first argument must be a map");
    a[0].get_object()[str(a[1])] = a[2];
    return a[0];
  });
  add(m, "unset", [](Args& a) -> Result<Value> {
    std::string name = "unset";
    NEED(2);
    if (!a[0].is_object()) return Error::invalid("unset: first argument must be a map");
    a[0].get_object().erase(str(a[1]));
    return a[0];
  });
  add(m, "hasKey", [](Args& a) -> Result<Value> { std::string name = "hasKey"; NEED(2); return Value(a[0].is_object() && a[0].get_object().contains(str(a[1]))); });
  add(m, "keys", [](Args& a) -> Result<Value> {
    json::array o;
    for (auto& d : a) if (d.is_object()) for (auto& kv : d.get_object()) o.emplace_back(kv.key());
    return Value(o);
  });
  add(m, "values", [](Args& a) -> Result<Value> {
    std::string name = "values";
    NEED(1);
    json::array o;
    if (a[0].is_object()) for (auto& kv : a[0].get_object()) o.push_back(kv.value());
    return Value(o);
  });
  add(m, "pick", [](Args& a) -> Result<Value> {
    if (a.empty() || !a[0].is_object()) return Value(json::object());
    json::object o;
    for (size_t i = 1; i < a.size(); i++)
      if (auto* v = a[0].get_object().if_contains(str(a[i]))) o[str(a[i])] = *v;
    return Value(o);
  });
  add(m, "omit", [](Args& a) -> Result<Value> {
    if (a.empty() || !a[0].is_object()) return Value(json::object());
    json::object o = a[0].get_object();
    for (size_t i = 1; i < a.size(); i++) o.erase(str(a[i]));
    return Value(o);
  });
  add(m, "merge", [](Args& a) -> Result<Value> {
    if (a.empty() || !a[0].is_object()) return Error::invalid("merge: first argument must be a map");
    json::object o = a[0].get_object();
    for (size_t i = 1; i < a.size(); i++) if (a[i].is_object()) deepMerge(o, a[i].get_object(), false);
    return Value(o);
  });
  add(m, "mergeOverwrite", [](Args& a) -> Result<Value> {
    if (a.empty() || !a[0].is_object()) return Error::invalid("mergeOverwrite: first argument must be a map");
    json::object o = a[0].get_object();
    for (size_t i = 1; i < a.size(); i++) if (a[i].is_object()) deepMerge(o, a[i].get_object(), true);
    return Value(o);
  });
  add(m, "deepCopy", [](Args& a) -> Result<Value> { std::string name = "deepCopy"; NEED(1); return a[0]; });
  add(m, "semverCompare", [](Args& a) -> Result<Value> {
    std::string name = "semverCompare";
    NEED(2);
    auto r = semverMatches(str(a[0]), str(a[1]));
    if (!r.ok()) return r.error();
    return Value(*r);
  });
  add(m, "kindIs", [](Args& a) -> Result<Value> {
    std::string name = "kindIs";
    NEED(2);
    std::string k = str(a[0]);
    const Value& v = a[1];
    std::string kind = v.is_string() ? "string" : v.is_bool() ? "bool" : v.is_int64() ? "int64" : v.is_double() ? "float64"
                       : v.is_array() ? "slice" : v.is_object() ? "map" : v.is_null() ? "invalid" : "uint64";
    return Value(k == kind);
  });
  add(m, "typeOf", [](Args& a) -> Result<Value> { std::string name = "typeOf"; NEED(1); return Value(goSprintf("%T", {a[0]})); });
  return m;
}

FunctionMap helmFunctions(LookupFunction lookup) {
  FunctionMap m;
  add(m, "toYaml", [](Args& a) -> Result<Value> {
    std::string name = "toYaml";
    NEED(1);
    if (a[0].is_null()) return Value("null");
    std::string y = api::toYaml(sortKeys(a[0]));
    while (!y.empty() && y.back() == '\n') y.pop_back();
    return Value(y);
  });
  add(m, "toJson", [](Args& a) -> Result<Value> { std::string name = "toJson"; NEED(1); return Value(api::toJson(sortKeys(a[0]))); });
  add(m, "toPrettyJson", [](Args& a) -> Result<Value> { std::string name = "toPrettyJson"; NEED(1); return Value(api::toPrettyJson(sortKeys(a[0]))); });
  // Helm's fromYaml/fromJson put a parse failure into the map as "Error" rather than failing.
  add(m, "fromYaml", [](Args& a) -> Result<Value> {
    std::string name = "fromYaml";
    NEED(1);
    auto docs = api::decodeManifests(str(a[0]));
    if (!docs.ok()) return Value(json::object{{"Error", docs.error().message}});
    if (docs->empty() || !(*docs)[0].is_object()) return Value(json::object());
    return asHelmValues((*docs)[0]);
  });
  add(m, "fromJson", [](Args& a) -> Result<Value> {
    std::string name = "fromJson";
    NEED(1);
    auto v = api::decodeJson(str(a[0]));
    if (!v.ok()) return Value(json::object{{"Error", v.error().message}});
    return asHelmValues(*v);
  });
  add(m, "required", [](Args& a) -> Result<Value> {
    std::string name = "required";
    NEED(2);
    if (a[1].is_null() || (a[1].is_string() && a[1].get_string().empty()))
      return Error::invalid("HELM_ERR_START" + str(a[0]) + "HELM_ERR_END");
    return a[1];
  });
  m["include"] = [](Executor& ex, Args& a) -> Result<Value> {
    if (a.size() != 2) return Error::invalid("wrong number of args for include: want 2 got " + std::to_string(a.size()));
    auto r = ex.runTemplate(str(a[0]), a[1]);
    if (!r.ok()) return r.error();
    return Value(*r);
  };
  m["tpl"] = [](Executor& ex, Args& a) -> Result<Value> {
    if (a.size() != 2) return Error::invalid("wrong number of args for tpl: want 2 got " + std::to_string(a.size()));
    auto r = ex.runText(str(a[0]), a[1]);
    if (!r.ok()) return r.error();
    return Value(*r);
  };
  m["lookup"] = [lookup](Executor&, Args& a) -> Result<Value> {
    if (a.size() != 4) return Error::invalid("wrong number of args for lookup: want 4 got " + std::to_string(a.size()));
    if (!lookup) return Value(json::object());
    return lookup(str(a[0]), str(a[1]), str(a[2]), str(a[3]));
  };
  return m;
}

}  // namespace skiff::helm
#undef NEED
