#include "helm/release.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include <boost/json.hpp>
#include <zlib.h>

#include "api/codec.h"
#include "common/base64.h"
#include "image/layer.h"

namespace skiff::helm {
namespace json = boost::json;

namespace {

constexpr const char* kZeroTime = "0001-01-01T00:00:00Z";

std::string str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

Result<Timestamp> timeField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return Timestamp{};
  if (!v->is_string()) return Error::invalid(std::string(key) + " is not a time");
  return parseTime(v->get_string());
}

std::vector<std::string> strings(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const json::value* v = o.if_contains(key); v && v->is_array())
    for (const auto& e : v->get_array())
      if (e.is_string()) out.emplace_back(e.get_string());
  return out;
}

json::array fileList(const std::map<std::string, std::string>& files) {
  json::array a;
  for (const auto& [name, data] : files) a.push_back(json::object{{"name", name}, {"data", base64Encode(data)}});
  return a;
}

Value hookToJson(const Hook& h) {
  json::object o;
  if (!h.name.empty()) o["name"] = h.name;
  if (!h.kind.empty()) o["kind"] = h.kind;
  if (!h.path.empty()) o["path"] = h.path;
  if (!h.manifest.empty()) o["manifest"] = h.manifest;
  if (!h.events.empty()) o["events"] = json::value_from(h.events);
  o["last_run"] = json::object{{"started_at", formatTime(h.lastRun.startedAt)},
                               {"completed_at", formatTime(h.lastRun.completedAt)},
                               {"phase", h.lastRun.phase}};
  if (h.weight != 0) o["weight"] = h.weight;
  if (!h.deletePolicies.empty()) o["delete_policies"] = json::value_from(h.deletePolicies);
  return o;
}

Result<Hook> hookFromJson(const json::value& v) {
  if (!v.is_object()) return Error::invalid("a hook is not an object");
  const auto& o = v.get_object();
  Hook h{str(o, "name"), str(o, "kind"), str(o, "path"), str(o, "manifest"), strings(o, "events"), {}, 0, strings(o, "delete_policies")};
  if (const json::value* w = o.if_contains("weight"); w && w->is_number()) h.weight = int(w->to_number<double>());
  if (const json::value* lr = o.if_contains("last_run"); lr && lr->is_object()) {
    auto started = timeField(lr->get_object(), "started_at");
    auto completed = timeField(lr->get_object(), "completed_at");
    if (!started.ok()) return started.error();
    if (!completed.ok()) return completed.error();
    h.lastRun = {*started, *completed, str(lr->get_object(), "phase")};
  }
  return h;
}

const json::object* metadataOfChart(const Value& chart) {
  const json::value* m = chart.is_object() ? chart.get_object().if_contains("metadata") : nullptr;
  return m && m->is_object() ? &m->get_object() : nullptr;
}

}  // namespace

Timestamp now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string formatTime(const Timestamp& t) {
  if (!t) return kZeroTime;
  int64_t secs = *t / 1'000'000'000, nanos = *t % 1'000'000'000;
  if (nanos < 0) {
    secs -= 1;
    nanos += 1'000'000'000;
  }
  std::time_t tt = secs;
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (nanos) {
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%09lld", static_cast<long long>(nanos));
    std::string f = frac;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "Z";
}

Result<Timestamp> parseTime(std::string_view text) {
  if (text == kZeroTime || text.empty()) return Timestamp{};
  std::tm tm{};
  int y, mo, d, h, mi, s, consumed = 0;
  std::string t(text);
  if (std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) != 6)
    return Error::invalid("not an RFC 3339 time: " + t);
  tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = s;
  if (y <= 1) return Timestamp{};
  int64_t secs = timegm(&tm), nanos = 0;
  // Nanoseconds in 64 bits reach from 1678 to 2262, as Go's UnixNano does.
  if (secs < -9'000'000'000 || secs > 9'000'000'000) return Error::invalid("time out of range (years 1678 to 2262): " + t);
  size_t p = size_t(consumed);
  if (p < t.size() && t[p] == '.') {
    int64_t scale = 100'000'000;
    for (++p; p < t.size() && std::isdigit((unsigned char)t[p]); ++p, scale /= 10) nanos += (t[p] - '0') * scale;
  }
  if (p < t.size() && (t[p] == '+' || t[p] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(t.c_str() + p + 1, "%2d:%2d", &oh, &om) != 2) return Error::invalid("bad zone offset in time: " + t);
    secs -= (t[p] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  } else if (p >= t.size() || t[p] != 'Z') {
    return Error::invalid("no time zone in time: " + t);
  }
  return Timestamp{secs * 1'000'000'000 + nanos};
}

std::string formatTimeHuman(const Timestamp& t) {
  if (!t) return "";
  std::time_t tt = *t / 1'000'000'000;
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Y", &tm);
  return buf;
}

std::string statusName(ReleaseStatus s) {
  switch (s) {
    case ReleaseStatus::Deployed: return "deployed";
    case ReleaseStatus::Uninstalled: return "uninstalled";
    case ReleaseStatus::Superseded: return "superseded";
    case ReleaseStatus::Failed: return "failed";
    case ReleaseStatus::Uninstalling: return "uninstalling";
    case ReleaseStatus::PendingInstall: return "pending-install";
    case ReleaseStatus::PendingUpgrade: return "pending-upgrade";
    case ReleaseStatus::PendingRollback: return "pending-rollback";
    case ReleaseStatus::Unknown: break;
  }
  return "unknown";
}

ReleaseStatus parseStatus(std::string_view name) {
  for (auto s : {ReleaseStatus::Deployed, ReleaseStatus::Uninstalled, ReleaseStatus::Superseded, ReleaseStatus::Failed,
                 ReleaseStatus::Uninstalling, ReleaseStatus::PendingInstall, ReleaseStatus::PendingUpgrade,
                 ReleaseStatus::PendingRollback})
    if (statusName(s) == name) return s;
  return ReleaseStatus::Unknown;
}

std::string Release::chartName() const {
  const json::object* m = metadataOfChart(chart);
  return m ? str(*m, "name") : std::string();
}
std::string Release::chartVersion() const {
  const json::object* m = metadataOfChart(chart);
  return m ? str(*m, "version") : std::string();
}
std::string Release::appVersion() const {
  const json::object* m = metadataOfChart(chart);
  return m ? str(*m, "appVersion") : std::string();
}
Value Release::chartValues() const {
  const json::value* v = chart.is_object() ? chart.get_object().if_contains("values") : nullptr;
  return v && v->is_object() ? *v : Value(json::object());
}

Value chartToJson(const Chart& chart) {
  // Helm keeps Chart.yaml, values.yaml, values.schema.json and Chart.lock in their own fields,
  // templates/ in templates and every other file (README, LICENSE, files for .Files) in files.
  std::map<std::string, std::string> files;
  Value schema = nullptr, lock = nullptr;
  for (const auto& [name, data] : chart.files) {
    if (name == "values.schema.json") schema = Value(base64Encode(data));
    else if (name == "Chart.lock") {
      if (auto parsed = api::decodeManifests(data); parsed.ok() && !parsed->empty()) lock = (*parsed)[0];
    } else files[name] = data;
  }
  json::object o;
  o["metadata"] = chart.chartYaml.is_object() ? chart.chartYaml : Value(json::object{{"name", chart.name}});
  o["lock"] = lock;
  o["templates"] = fileList(chart.templates);
  o["values"] = chart.values.is_object() ? integralAsInt(chart.values) : Value(json::object());
  o["schema"] = schema;
  o["files"] = fileList(files);
  return o;
}

Value releaseToJson(const Release& r) {
  // Go's encoding/json of Helm's structs: field order and omitempty as they are declared.
  json::object info;
  info["first_deployed"] = formatTime(r.info.firstDeployed);
  info["last_deployed"] = formatTime(r.info.lastDeployed);
  info["deleted"] = formatTime(r.info.deleted);
  if (!r.info.description.empty()) info["description"] = r.info.description;
  info["status"] = statusName(r.info.status);
  if (!r.info.notes.empty()) info["notes"] = r.info.notes;
  json::object o;
  if (!r.name.empty()) o["name"] = r.name;
  o["info"] = std::move(info);
  if (!r.chart.is_null()) {
    Value chart = r.chart;
    if (chart.is_object())
      if (Value* values = chart.get_object().if_contains("values")) *values = integralAsInt(*values);
    o["chart"] = std::move(chart);
  }
  if (r.config.is_object() && !r.config.get_object().empty()) o["config"] = integralAsInt(r.config);
  if (!r.manifest.empty()) o["manifest"] = r.manifest;
  if (!r.hooks.empty()) {
    json::array hooks;
    for (const auto& h : r.hooks) hooks.push_back(hookToJson(h));
    o["hooks"] = std::move(hooks);
  }
  if (r.version != 0) o["version"] = r.version;
  if (!r.nameSpace.empty()) o["namespace"] = r.nameSpace;
  return o;
}

Result<Release> releaseFromJson(const Value& v) {
  if (!v.is_object()) return Error::invalid("a release is a JSON object");
  const auto& o = v.get_object();
  Release r;
  r.name = str(o, "name");
  r.nameSpace = str(o, "namespace");
  if (const json::value* ver = o.if_contains("version"); ver && ver->is_number()) r.version = int(ver->to_number<double>());
  if (const json::value* info = o.if_contains("info"); info && info->is_object()) {
    const auto& io = info->get_object();
    auto first = timeField(io, "first_deployed");
    auto last = timeField(io, "last_deployed");
    auto deleted = timeField(io, "deleted");
    if (!first.ok()) return first.error();
    if (!last.ok()) return last.error();
    if (!deleted.ok()) return deleted.error();
    r.info.firstDeployed = *first, r.info.lastDeployed = *last, r.info.deleted = *deleted;
    // Go's decoder matches keys case-insensitively; some Helm versions wrote "Description".
    r.info.description = str(io, "description");
    if (r.info.description.empty()) r.info.description = str(io, "Description");
    r.info.status = parseStatus(str(io, "status"));
    r.info.notes = str(io, "notes");
  }
  // Numbers as Go's decoder hands them to templates: float64.
  if (const json::value* c = o.if_contains("chart")) r.chart = *c;
  if (r.chart.is_object())
    if (json::value* values = r.chart.get_object().if_contains("values")) *values = asHelmValues(*values);
  if (const json::value* c = o.if_contains("config")) r.config = asHelmValues(*c);
  r.manifest = str(o, "manifest");
  if (const json::value* hs = o.if_contains("hooks"); hs && hs->is_array())
    for (const auto& h : hs->get_array()) {
      auto hook = hookFromJson(h);
      if (!hook.ok()) return hook.error();
      r.hooks.push_back(std::move(*hook));
    }
  if (r.name.empty() || r.version <= 0) return Error::invalid("a release needs a name and a version");
  return r;
}

std::string gzipCompress(std::string_view data) {
  z_stream zs{};
  // 15 window bits + 16: a gzip wrapper rather than zlib's.
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, uLong(data.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = uInt(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = uInt(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string encodeRelease(const Release& release) {
  return base64Encode(gzipCompress(json::serialize(releaseToJson(release))));
}

Result<Release> decodeRelease(std::string_view encoded) {
  auto raw = base64Decode(encoded);
  if (!raw) return Error::invalid("the release data is not base64");
  std::string text = std::move(*raw);
  if (text.size() >= 3 && uint8_t(text[0]) == 0x1f && uint8_t(text[1]) == 0x8b && uint8_t(text[2]) == 0x08) {
    auto source = image::gunzip(image::memorySource(text));
    std::string plain;
    char buf[65536];
    while (true) {
      auto n = source(buf, sizeof buf);
      if (!n.ok()) return Error::invalid("the release data is not valid gzip: " + n.error().message);
      if (*n == 0) break;
      plain.append(buf, *n);
      if (plain.size() > (256u << 20)) return Error::invalid("the release data inflates beyond 256 MiB");
    }
    text = std::move(plain);
  }
  auto parsed = api::decodeJson(text);
  if (!parsed.ok()) return Error::invalid("the release data is not JSON: " + parsed.error().message);
  return releaseFromJson(*parsed);
}

std::string releaseSecretName(const std::string& name, int version) {
  return "sh.helm.release.v1." + name + ".v" + std::to_string(version);
}

}  // namespace skiff::helm
