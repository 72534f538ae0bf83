#include "api/object.h"

#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <random>

namespace skiff::api {
namespace json = boost::json;

const json::value* valueAt(const json::value& object, std::string_view path) {
  const json::value* cur = &object;
  while (cur) {
    size_t dot = path.find('.');
    std::string_view part = path.substr(0, dot);
    const auto* o = cur->if_object();
    cur = o ? o->if_contains(part) : nullptr;
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot + 1);
  }
  return cur;
}

const json::array& arrayAt(const json::value& object, std::string_view path) {
  static const json::array empty;
  const json::value* a = valueAt(object, path);
  return a && a->is_array() ? a->get_array() : empty;
}

json::array stringArray(const std::vector<std::string>& strings) {
  json::array a;
  a.reserve(strings.size());
  for (const auto& s : strings) a.emplace_back(s);
  return a;
}

std::string stringAt(const json::value& object, std::string_view path) {
  const json::value* v = valueAt(object, path);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::vector<std::string> stringsAt(const json::value& object, std::string_view path) {
  std::vector<std::string> out;
  if (const json::value* v = valueAt(object, path); v && v->is_array())
    for (const auto& s : v->get_array())
      if (s.is_string()) out.emplace_back(s.get_string());
  return out;
}

json::value& ensurePath(json::value& object, std::string_view path) {
  json::value* cur = &object;
  while (true) {
    if (!cur->is_object()) *cur = json::object();
    size_t dot = path.find('.');
    cur = &cur->get_object()[path.substr(0, dot)];
    if (dot == std::string_view::npos) return *cur;
    path.remove_prefix(dot + 1);
  }
}

json::object& metadataOf(json::value& object) {
  json::value& m = ensurePath(object, "metadata");
  if (!m.is_object()) m = json::object();
  return m.get_object();
}

std::string rfc3339Now() { return rfc3339(int64_t(std::time(nullptr))); }

std::string rfc3339(int64_t seconds) {
  std::time_t t = std::time_t(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t parseRfc3339(std::string_view t) {
  std::tm tm{};
  std::string s(t);
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) return -1;
  return int64_t(timegm(&tm));
}

namespace {
std::mt19937_64& rng() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen;
}
}  // namespace

std::string newUid() {
  std::uniform_int_distribution<uint64_t> d;
  uint64_t a = d(rng()), b = d(rng());
  a = (a & 0xffffffffffff0fffULL) | 0x4000ULL;           // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", unsigned(a >> 32), unsigned((a >> 16) & 0xffff),
                unsigned(a & 0xffff), unsigned(b >> 48), (unsigned long long)(b & 0xffffffffffffULL));
  return buf;
}

std::string randomSuffix(size_t n) {
  // Kubernetes leaves out vowels and look-alikes so generated names never spell words.
  static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::uniform_int_distribution<size_t> d(0, sizeof alphabet - 2);
  std::string out;
  for (size_t i = 0; i < n; ++i) out += alphabet[d(rng())];
  return out;
}

std::string humanDuration(int64_t s) {
  if (s < 0) s = 0;
  if (s < 120) return std::to_string(s) + "s";
  int64_t m = s / 60;
  if (m < 10) return std::to_string(m) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
  if (m < 180) return std::to_string(m) + "m";
  int64_t h = m / 60;
  if (h < 8) return std::to_string(h) + "h" + (m % 60 ? std::to_string(m % 60) + "m" : "");
  if (h < 48) return std::to_string(h) + "h";
  int64_t d = h / 24;
  if (d < 8) return std::to_string(d) + "d" + (h % 24 ? std::to_string(h % 24) + "h" : "");
  if (d < 365 * 2) return std::to_string(d) + "d";
  return std::to_string(d / 365) + "y";
}

}  // namespace skiff::api
