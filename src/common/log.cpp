#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

#include <boost/json.hpp>

namespace skiff::log {
namespace {
std::atomic<Level> g_level{Level::Info};
std::mutex g_mutex;
const char* name(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "?";
}
}  // namespace

void setLevel(Level level) { g_level = level; }

void write(Level level, std::string_view component, std::string_view message) {
  if (level < g_level.load()) return;
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  char ts[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::snprintf(ts + std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm), 8, ".%03dZ", int(ms));
  std::string line;
  if (isatty(STDERR_FILENO)) {
    line = std::string(ts) + " " + name(level) + " [" + std::string(component) + "] " + std::string(message) + "\n";
  } else {
    boost::json::object o{{"ts", ts}, {"level", name(level)}, {"component", component}, {"msg", message}};
    line = boost::json::serialize(o) + "\n";
  }
  std::lock_guard lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
}
}  // namespace skiff::log
