#include "helm/chart.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <boost/json.hpp>

#include "api/codec.h"
#include "common/base64.h"
#include "api/structural_schema.h"
#include "image/layer.h"

namespace skiff::helm {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

Result<std::string> readText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Error::notFound("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<Value> decodeYamlMap(const std::string& text, const std::string& what) {
  auto docs = api::decodeManifests(text);
  if (!docs.ok()) return Error::invalid(what + " is not valid YAML: " + docs.error().message);
  if (docs->empty()) return Value(json::object());
  if (!(*docs)[0].is_object()) return Error::invalid(what + " must be a YAML map");
  return (*docs)[0];
}

// .Chart exposes Chart.yaml with Go's field names: name → Name, appVersion → AppVersion.
Value chartMetadata(const Value& chartYaml) {
  json::object o;
  for (const auto& kv : chartYaml.get_object()) {
    std::string k(kv.key());
    if (k == "apiVersion") k = "APIVersion";
    else if (!k.empty()) k[0] = char(std::toupper((unsigned char)k[0]));
    o[k] = kv.value();
  }
  return o;
}

}  // namespace

namespace {

using FileMap = std::map<std::string, std::string>;

// A chart archive: one top-level folder (the chart's name) holding Chart.yaml and the rest.
Result<FileMap> readChartArchive(std::string_view data, const std::string& origin) {
  image::TarReader tar(image::gunzip(image::memorySource(data)));
  FileMap files;
  size_t total = 0;
  image::TarEntry e;
  while (true) {
    auto more = tar.next(e);
    if (!more.ok()) return Error::invalid(origin + ": not a chart archive (.tgz): " + more.error().message);
    if (!*more) break;
    if (e.type != '0') continue;
    std::string path = e.path;
    size_t slash = path.find('/');
    if (slash == std::string::npos || path.find("..") != std::string::npos) continue;
    total += e.size;
    if (total > (256u << 20)) return Error::invalid(origin + ": chart archive larger than 256 MiB unpacked");
    std::string content(e.size, '\0');
    size_t got = 0;
    while (got < content.size()) {
      auto n = tar.read(content.data() + got, content.size() - got);
      if (!n.ok()) return Error::invalid(origin + ": " + n.error().message);
      if (*n == 0) break;
      got += *n;
    }
    files[path.substr(slash + 1)] = std::move(content);
  }
  if (!files.count("Chart.yaml")) return Error::notFound("chart not found: " + origin + " holds no Chart.yaml");
  return files;
}

Result<FileMap> readChartDirectory(const fs::path& root) {
  FileMap files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    auto text = readText(it->path());
    if (!text.ok()) return text.error();
    files[fs::relative(it->path(), root).generic_string()] = std::move(*text);
  }
  if (ec) return Error::invalid("cannot read chart " + root.string() + ": " + ec.message());
  return files;
}

Result<Chart> loadChartFiles(const FileMap& files, const std::string& origin, int depth) {
  if (depth > 16) return Error::invalid(origin + ": subcharts nested deeper than 16");
  auto chartYaml = files.find("Chart.yaml");
  if (chartYaml == files.end()) return Error::notFound("chart not found: " + origin + " has no Chart.yaml");
  auto meta = decodeYamlMap(chartYaml->second, origin + "/Chart.yaml");
  if (!meta.ok()) return meta.error();
  Chart chart;
  const Value* name = meta->get_object().if_contains("name");
  if (!name || !name->is_string() || name->get_string().empty())
    return Error::invalid(origin + "/Chart.yaml: validation: chart.metadata.name is required");
  chart.name = std::string(name->get_string());
  chart.metadata = chartMetadata(*meta);
  if (const Value* deps = meta->get_object().if_contains("dependencies")) chart.dependencyConditions = *deps;
  chart.values = json::object();
  if (auto v = files.find("values.yaml"); v != files.end()) {
    auto decoded = decodeYamlMap(v->second, origin + "/values.yaml");
    if (!decoded.ok()) return decoded.error();
    chart.values = asHelmValues(*decoded);
  }
  std::map<std::string, FileMap> subDirs;  // charts/NAME/... → NAME's files
  for (const auto& [rel, text] : files) {
    if (rel.rfind("charts/", 0) == 0) {
      std::string rest = rel.substr(7);
      size_t slash = rest.find('/');
      if (slash != std::string::npos) {
        subDirs[rest.substr(0, slash)][rest.substr(slash + 1)] = text;
      } else if (rest.size() > 4 && rest.compare(rest.size() - 4, 4, ".tgz") == 0) {
        auto archived = readChartArchive(text, origin + "/" + rel);
        if (!archived.ok()) return archived.error();
        subDirs[rest] = std::move(*archived);
      }
      continue;
    }
    if (rel.rfind("templates/", 0) == 0) chart.templates[rel] = text;
    else if (rel != "Chart.yaml" && rel != "values.yaml") chart.files[rel] = text;
  }
  for (const auto& [sub, subFiles] : subDirs) {
    auto loaded = loadChartFiles(subFiles, origin + "/charts/" + sub, depth + 1);
    if (!loaded.ok()) return loaded.error();
    chart.dependencies.push_back(std::move(*loaded));
  }
  return chart;
}

}  // namespace

Result<Chart> loadChart(const std::string& path) {
  fs::path root(path);
  std::error_code ec;
  if (fs::is_directory(root, ec)) {
    auto files = readChartDirectory(root);
    if (!files.ok()) return files.error();
    return loadChartFiles(*files, path, 0);
  }
  if (!fs::is_regular_file(root, ec)) return Error::notFound("chart not found: " + path + " is neither a chart directory nor a .tgz archive");
  auto data = readText(root);
  if (!data.ok()) return data.error();
  auto files = readChartArchive(*data, path);
  if (!files.ok()) return files.error();
  return loadChartFiles(*files, path, 0);
}

// ---------------------------------------------------------------------------------------------
// strvals

namespace {
Value typedValue(const std::string& s, bool asString) {
  if (asString) return Value(s);
  if (s == "true") return Value(true);
  if (s == "false") return Value(false);
  if (s == "null") return Value();
  // Helm's strvals: integers become int64; "0"-prefixed ones stay strings.
  if (!s.empty() && s.find_first_not_of("0123456789", s[0] == '-' ? 1 : 0) == std::string::npos &&
      s != "-" && !(s.size() > 1 && s[0] == '0')) {
    errno = 0;
    long long v = std::strtoll(s.c_str(), nullptr, 10);
    if (errno != ERANGE) return Value(int64_t(v));
  }
  return Value(s);
}

// One key path of an expression: names and [index] parts.
struct KeyPart {
  std::string name;
  int64_t index = -1;
};

Status setPath(Value& node, const std::vector<KeyPart>& path, size_t i, Value v) {
  const KeyPart& p = path[i];
  bool last = i + 1 == path.size();
  if (p.index >= 0) {
    if (p.index > 65536) return Error::invalid("index of " + std::to_string(p.index) + " is greater than maximum supported index 65536");
    if (!node.is_array()) node = json::array();
    auto& a = node.get_array();
    while (a.size() <= size_t(p.index)) a.emplace_back(nullptr);
    if (last) { a[size_t(p.index)] = std::move(v); return {}; }
    return setPath(a[size_t(p.index)], path, i + 1, std::move(v));
  }
  if (!node.is_object()) node = json::object();
  auto& o = node.get_object();
  if (last) { o[p.name] = std::move(v); return {}; }
  return setPath(o[p.name], path, i + 1, std::move(v));
}
}  // namespace

Status applySetValue(Value& values, std::string_view expr, bool asString) {
  if (!values.is_object()) values = json::object();
  size_t i = 0;
  while (i < expr.size()) {
    std::vector<KeyPart> path;
    std::string cur;
    // Key: up to '='; '.' separates names, [n] indexes, '\' escapes.
    for (; i < expr.size() && expr[i] != '='; i++) {
      char c = expr[i];
      if (c == '\\' && i + 1 < expr.size()) { cur += expr[++i]; continue; }
      if (c == ',') return Error::invalid("key \"" + cur + "\" has no value (cannot end with ,)");
      if (c == '.') { path.push_back({cur}); cur.clear(); continue; }
      if (c == '[') {
        size_t close = expr.find(']', i);
        if (close == std::string_view::npos) return Error::invalid("key \"" + cur + "\" has no value");
        std::string n(expr.substr(i + 1, close - i - 1));
        if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos)
          return Error::invalid("failed to parse index " + n);
        if (!cur.empty()) path.push_back({cur});
        cur.clear();
        path.push_back({"", std::stoll(n.substr(0, 9))});
        i = close;
        if (i + 1 < expr.size() && expr[i + 1] == '.') i++;
        continue;
      }
      cur += c;
    }
    if (!cur.empty()) path.push_back({cur});
    if (i >= expr.size()) return Error::invalid("key \"" + std::string(expr) + "\" has no value");
    i++;  // '='
    std::string val;
    bool braces = false;
    if (i < expr.size() && expr[i] == '{' && !asString) {
      // {a,b} is a list in strvals
      braces = true;
    }
    if (braces) {
      size_t close = expr.find('}', i);
      if (close == std::string_view::npos) return Error::invalid("list value for key \"" + std::string(expr.substr(0, i)) + "\" has no closing }");
      val = std::string(expr.substr(i + 1, close - i - 1));
      i = close + 1;
    } else {
      for (; i < expr.size() && expr[i] != ','; i++) {
        if (expr[i] == '\\' && i + 1 < expr.size()) { val += expr[++i]; continue; }
        val += expr[i];
      }
    }
    if (path.empty()) return Error::invalid("key for value \"" + val + "\" is empty");
    Value v;
    if (braces) {
      json::array list;
      std::string item;
      size_t p = 0;
      while (p <= val.size()) {
        size_t q = val.find(',', p);
        item = val.substr(p, q == std::string::npos ? std::string::npos : q - p);
        list.push_back(typedValue(item, false));
        if (q == std::string::npos) break;
        p = q + 1;
      }
      v = std::move(list);
    } else {
      v = typedValue(val, asString);
    }
    if (auto st = setPath(values, path, 0, std::move(v)); !st.ok()) return st;
    if (i < expr.size() && expr[i] == ',') i++;
  }
  return {};
}

Value coalesceValues(const Value& defaults, const Value& user) {
  if (!defaults.is_object() || !user.is_object()) return user.is_null() ? defaults : user;
  json::object out = defaults.get_object();
  for (const auto& kv : user.get_object()) {
    if (kv.value().is_null()) {
      out.erase(kv.key());  // Helm: a null deletes the default
      continue;
    }
    auto* d = out.if_contains(kv.key());
    out[kv.key()] = d ? coalesceValues(*d, kv.value()) : kv.value();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rendering

const std::vector<std::string>& installOrder() {
  static const std::vector<std::string> order = {
      "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
      "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
      "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList",
      "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList",
      "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
      "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService"};
  return order;
}

namespace {

// One chart in the tree with the values it sees and where its templates live.
struct ChartScope {
  const Chart* chart;
  std::string path;  // "parent/charts/sub"
  Value values;
};

bool dependencyEnabled(const Chart& parent, const Chart& sub, const Value& parentValues) {
  if (!parent.dependencyConditions.is_array()) return true;
  for (const auto& d : parent.dependencyConditions.get_array()) {
    if (!d.is_object()) continue;
    const Value* n = d.get_object().if_contains("name");
    const Value* alias = d.get_object().if_contains("alias");
    if (!(n && n->is_string() && n->get_string() == sub.name) && !(alias && alias->is_string() && alias->get_string() == sub.name)) continue;
    // condition: first path that resolves to a bool decides; else tags (any true enables).
    if (const Value* cond = d.get_object().if_contains("condition"); cond && cond->is_string()) {
      std::stringstream ss{std::string(cond->get_string())};
      std::string pathExpr;
      while (std::getline(ss, pathExpr, ',')) {
        const Value* v = &parentValues;
        std::stringstream ps(pathExpr);
        std::string part;
        while (v && std::getline(ps, part, '.')) v = v->is_object() ? v->get_object().if_contains(part) : nullptr;
        if (v && v->is_bool()) return v->get_bool();
      }
    }
    if (const Value* tags = d.get_object().if_contains("tags"); tags && tags->is_array()) {
      const Value* tv = parentValues.is_object() ? parentValues.get_object().if_contains("tags") : nullptr;
      bool any = false, anySet = false;
      for (const auto& t : tags->get_array()) {
        if (!t.is_string() || !tv || !tv->is_object()) continue;
        if (const Value* b = tv->get_object().if_contains(t.get_string()); b && b->is_bool()) {
          anySet = true;
          any = any || b->get_bool();
        }
      }
      if (anySet) return any;
    }
  }
  return true;
}

void collectScopes(const Chart& chart, const std::string& path, const Value& values, std::vector<ChartScope>& out) {
  out.push_back({&chart, path, values});
  Value globals = values.is_object() && values.get_object().contains("global") ? values.get_object().at("global") : Value(json::object());
  for (const auto& sub : chart.dependencies) {
    if (!dependencyEnabled(chart, sub, values)) continue;
    Value mine = values.is_object() && values.get_object().contains(sub.name) ? values.get_object().at(sub.name) : Value(json::object());
    Value merged = coalesceValues(sub.values, mine);
    // Parent globals flow down and win over the subchart's own.
    Value subGlobal = merged.get_object().contains("global") ? merged.get_object().at("global") : Value(json::object());
    merged.get_object()["global"] = coalesceValues(subGlobal, globals);
    collectScopes(sub, path + "/charts/" + sub.name, merged, out);
  }
}

// .Files: the chart's non-template files; Get/Glob/Lines/AsConfig/AsSecrets are methods.
Value filesObject(const Chart& chart) {
  json::object files;
  for (const auto& [k, v] : chart.files) files[k] = v;
  return json::object{{"\x01kind", "Files"}, {"files", files}};
}

bool globMatch(const std::string& pattern, const std::string& name) {
  // Go's path.Match plus "**" as Helm's Glob (gobwas/glob) allows: * stops at '/', ** does not.
  std::string re;
  for (size_t i = 0; i < pattern.size(); i++) {
    char c = pattern[i];
    if (c == '*') {
      if (i + 1 < pattern.size() && pattern[i + 1] == '*') { re += ".*"; i++; }
      else re += "[^/]*";
    } else if (c == '?') re += "[^/]";
    else if (std::string_view(".+()^$|{}\\").find(c) != std::string_view::npos) { re += '\\'; re += c; }
    else re += c;
  }
  try {
    return std::regex_match(name, std::regex(re));
  } catch (const std::regex_error&) {
    return false;
  }
}

void addFileMethods(FunctionMap& m) {
  auto filesOf = [](const Value& recv) -> const json::object& { return recv.get_object().at("files").get_object(); };
  m["\x01" "Files.Get"] = [filesOf](Executor&, std::vector<Value>& a) -> Result<Value> {
    if (a.size() != 2) return Error::invalid("Get takes one file name");
    const Value* v = filesOf(a[0]).if_contains(a[1].is_string() ? a[1].get_string() : "");
    return v ? *v : Value("");
  };
  m["\x01" "Files.GetBytes"] = m["\x01" "Files.Get"];
  m["\x01" "Files.Lines"] = [filesOf](Executor&, std::vector<Value>& a) -> Result<Value> {
    if (a.size() != 2) return Error::invalid("Lines takes one file name");
    const Value* v = filesOf(a[0]).if_contains(a[1].is_string() ? a[1].get_string() : "");
    json::array lines;
    if (v) {
      std::stringstream ss{std::string(v->get_string())};
      std::string l;
      while (std::getline(ss, l)) lines.emplace_back(l);
    }
    return Value(lines);
  };
  m["\x01" "Files.Glob"] = [filesOf](Executor&, std::vector<Value>& a) -> Result<Value> {
    if (a.size() != 2 || !a[1].is_string()) return Error::invalid("Glob takes one pattern");
    json::object matched;
    for (const auto& kv : filesOf(a[0]))
      if (globMatch(std::string(a[1].get_string()), std::string(kv.key()))) matched[kv.key()] = kv.value();
    return Value(json::object{{"\x01kind", "Files"}, {"files", matched}});
  };
  // AsConfig / AsSecrets: the files as a YAML map keyed by base name (secrets base64-encoded).
  auto asMap = [filesOf](bool secret) {
    return [filesOf, secret](Executor&, std::vector<Value>& a) -> Result<Value> {
      json::object o;
      for (const auto& kv : filesOf(a[0])) {
        std::string key = fs::path(std::string(kv.key())).filename().string();
        std::string v(kv.value().get_string());
        o[key] = secret ? base64Encode(v) : v;
      }
      if (o.empty()) return Value("");
      std::string y = api::toYaml(Value(o));
      while (!y.empty() && y.back() == '\n') y.pop_back();
      return Value(y);
    };
  };
  m["\x01" "Files.AsConfig"] = asMap(false);
  m["\x01" "Files.AsSecrets"] = asMap(true);
  m["\x01" "APIVersions.Has"] = [](Executor&, std::vector<Value>& a) -> Result<Value> {
    if (a.size() != 2 || !a[1].is_string()) return Error::invalid("Has takes one apiVersion or apiVersion/Kind");
    for (const auto& v : a[0].get_object().at("list").get_array())
      if (v == a[1]) return Value(true);
    return Value(false);
  };
}

Value capabilities(const ReleaseOptions& r) {
  std::string v = r.kubeVersion;
  std::string bare = v[0] == 'v' ? v.substr(1) : v;
  std::string major = bare.substr(0, bare.find('.'));
  std::string rest = bare.substr(bare.find('.') + 1);
  std::string minor = rest.substr(0, rest.find('.'));
  json::array apis;
  // The built-in groups skiff serves, as `helm template` assumes them.
  for (const char* g : {"v1", "apps/v1", "batch/v1", "autoscaling/v2", "networking.k8s.io/v1", "policy/v1",
                        "rbac.authorization.k8s.io/v1", "storage.k8s.io/v1", "apiextensions.k8s.io/v1",
                        "scheduling.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1"})
    apis.emplace_back(g);
  for (const auto& a : r.apiVersions) apis.emplace_back(a);
  return json::object{
      {"KubeVersion", json::object{{"Version", v}, {"Major", major}, {"Minor", minor}, {"GitVersion", v}}},
      {"APIVersions", json::object{{"\x01kind", "APIVersions"}, {"list", apis}}},
      {"HelmVersion", json::object{{"Version", "v3.14.0"}}}};
}

// Helm's SplitManifests: split on lines of ---, trim each document, drop empty ones.
std::vector<std::string> splitDocuments(const std::string& text) {
  static const std::regex sep(R"((?:^|\s*\n)---\s*)");
  std::vector<std::string> out;
  std::string trimmed = text;
  auto trim = [](std::string s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return std::string();
    size_t e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
  };
  trimmed = trim(trimmed);
  std::sregex_token_iterator it(trimmed.begin(), trimmed.end(), sep, -1), end;
  for (; it != end; ++it) {
    std::string d = trim(it->str());
    if (!d.empty()) out.push_back(d);
  }
  return out;
}

// JSON Schema sees 3 where Go's decoder made 3.0: integral floats count as integers.
Value integralAsInt(const Value& v) {
  if (v.is_double() && std::floor(v.get_double()) == v.get_double() && std::fabs(v.get_double()) < 9e15)
    return Value(int64_t(v.get_double()));
  if (v.is_array()) {
    json::array a;
    for (const auto& e : v.get_array()) a.push_back(integralAsInt(e));
    return a;
  }
  if (v.is_object()) {
    json::object o;
    for (const auto& kv : v.get_object()) o[kv.key()] = integralAsInt(kv.value());
    return o;
  }
  return v;
}

// values.schema.json of every chart in the tree, checked against the values that chart sees.
Status validateSchemas(const std::vector<ChartScope>& scopes) {
  std::string report;
  for (const auto& s : scopes) {
    auto file = s.chart->files.find("values.schema.json");
    if (file == s.chart->files.end()) continue;
    auto schemaJson = api::decodeJson(file->second);
    if (!schemaJson.ok()) return Error::invalid(s.path + "/values.schema.json is not valid JSON: " + schemaJson.error().message);
    if (schemaJson->is_object()) {
      for (const char* k : {"$schema", "$id", "title", "$comment"}) schemaJson->get_object().erase(k);
    }
    auto compiled = api::compileSchema(*schemaJson, "values.schema.json");
    if (!compiled.ok()) return Error::invalid(s.path + "/values.schema.json uses what skiff cannot check yet: " + compiled.error().message);
    std::string mine;
    for (const auto& c : api::validateValue(*compiled->root, integralAsInt(s.values)))
      mine += "- " + (c.field.empty() ? std::string("(root)") : c.field) + ": " + c.message + "\n";
    if (!mine.empty()) report += s.chart->name + ":\n" + mine;
  }
  if (!report.empty()) return Error::invalid("values don't meet the specifications of the schema(s) in the following chart(s):\n" + report);
  return {};
}

// Helm's engine rewrites Go's errors: a parse error as "parse error at (LOCATION): LAST PART",
// a fail/required as "execution error at (LOCATION): MESSAGE"; other execution errors stay Go's.
std::string helmParseError(const std::string& file, const std::string& goError) {
  std::vector<std::string> tokens;
  size_t p = 0;
  while (true) {
    size_t q = goError.find(": ", p);
    tokens.push_back(goError.substr(p, q == std::string::npos ? std::string::npos : q - p));
    if (q == std::string::npos) break;
    p = q + 2;
  }
  if (tokens.size() == 1) return "parse error in (" + file + "): " + goError;
  return "parse error at (" + tokens[1] + "): " + tokens.back();
}
std::string helmExecError(const std::string& goError) {
  size_t a = goError.find("HELM_ERR_START"), b = goError.rfind("HELM_ERR_END");
  if (a == std::string::npos || b == std::string::npos || b < a) return goError;
  size_t first = goError.find(": ");
  size_t second = first == std::string::npos ? first : goError.find(": ", first + 2);
  if (second == std::string::npos) return goError;
  return "execution error at (" + goError.substr(first + 2, second - first - 2) + "): " + goError.substr(a + 14, b - a - 14);
}

}  // namespace

Result<std::vector<RenderedManifest>> renderChart(const Chart& chart, const Value& userValues, const ReleaseOptions& release) {
  Value top = coalesceValues(chart.values, userValues);
  if (!top.get_object().contains("global")) top.get_object()["global"] = json::object();
  std::vector<ChartScope> scopes;
  collectScopes(chart, chart.name, top, scopes);
  if (auto st = validateSchemas(scopes); !st.ok()) return st.error();

  TemplateSet set;
  FunctionMap fns = sprigFunctions();
  for (auto& [k, v] : helmFunctions(release.lookup)) fns[k] = v;
  addFileMethods(fns);
  set.addFunctions(fns);
  // Deepest charts first, so a parent's define of the same name wins (Helm parses in that order).
  std::vector<std::pair<std::string, const std::string*>> all;
  std::map<std::string, const ChartScope*> scopeOf;
  for (const auto& s : scopes)
    for (const auto& [rel, text] : s.chart->templates) {
      all.emplace_back(s.path + "/" + rel, &text);
      scopeOf[s.path + "/" + rel] = &s;
    }
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    auto depth = [](const std::string& p) { return std::count(p.begin(), p.end(), '/'); };
    return depth(a.first) > depth(b.first);
  });
  for (const auto& [name, text] : all)
    if (auto st = set.parse(name, *text); !st.ok()) return Error::invalid(helmParseError(name, st.error().message));

  json::object releaseObj{{"Name", release.name}, {"Namespace", release.nameSpace}, {"IsInstall", !release.isUpgrade},
                          {"IsUpgrade", release.isUpgrade}, {"Revision", release.revision}, {"Service", "Helm"}};
  Value caps = capabilities(release);
  std::vector<std::pair<std::string, std::string>> rendered;  // path → text, sorted by path
  std::map<std::string, std::string> sortedNames;
  for (const auto& [name, text] : all) sortedNames[name] = name;
  for (const auto& [name, _] : sortedNames) {
    const ChartScope& s = *scopeOf[name];
    std::string base = fs::path(name).filename().string();
    if (base.rfind('_', 0) == 0 || base == "NOTES.txt") continue;
    Value data = json::object{{"Values", s.values}, {"Release", releaseObj}, {"Chart", s.chart->metadata},
                              {"Capabilities", caps}, {"Files", filesObject(*s.chart)},
                              {"Template", json::object{{"Name", name}, {"BasePath", s.path + "/templates"}}}};
    auto out = set.execute(name, data);
    if (!out.ok()) return Error::invalid(helmExecError(out.error().message));
    std::string text = std::move(*out);
    // Helm blanks what a missing value printed.
    for (size_t p; (p = text.find("<no value>")) != std::string::npos;) text.erase(p, 10);
    rendered.emplace_back(name, std::move(text));
  }

  std::vector<RenderedManifest> manifests, hooks;
  for (const auto& [name, text] : rendered) {
    for (auto& doc : splitDocuments(text)) {
      auto parsed = api::decodeManifests(doc);
      if (!parsed.ok()) return Error::invalid("YAML parse error on " + name + ": " + parsed.error().message);
      RenderedManifest m{name, doc, "", false};
      if (!parsed->empty() && (*parsed)[0].is_object()) {
        const auto& o = (*parsed)[0].get_object();
        if (auto* k = o.if_contains("kind"); k && k->is_string()) m.kind = std::string(k->get_string());
        if (auto* md = o.if_contains("metadata"); md && md->is_object())
          if (auto* an = md->get_object().if_contains("annotations"); an && an->is_object())
            m.hook = an->get_object().contains("helm.sh/hook");
      }
      (m.hook ? hooks : manifests).push_back(std::move(m));
    }
  }
  auto rank = [](const std::string& kind) -> size_t {
    const auto& o = installOrder();
    auto it = std::find(o.begin(), o.end(), kind);
    return it == o.end() ? o.size() : size_t(it - o.begin());
  };
  auto byKind = [&](const RenderedManifest& a, const RenderedManifest& b) {
    size_t ra = rank(a.kind), rb = rank(b.kind);
    if (ra == installOrder().size() && rb == installOrder().size()) return a.kind < b.kind;  // unknown: by kind name
    return ra < rb;
  };
  std::stable_sort(manifests.begin(), manifests.end(), byKind);
  std::stable_sort(hooks.begin(), hooks.end(), byKind);
  for (auto& h : hooks) manifests.push_back(std::move(h));
  return manifests;
}

std::string formatTemplateOutput(const std::vector<RenderedManifest>& manifests) {
  std::string out;
  for (const auto& m : manifests) out += "---\n# Source: " + m.source + "\n" + m.content + "\n";
  return out;
}

}  // namespace skiff::helm
