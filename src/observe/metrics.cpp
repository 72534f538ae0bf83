#include "observe/metrics.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>

namespace skiff::observe {
namespace {

struct Registry {
  std::mutex mutex;
  std::vector<std::function<void(std::string&)>> renderers;
  std::map<std::string, std::pair<std::string, std::vector<std::function<double()>>>> callbacks;
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: metrics may be touched during shutdown
  return *r;
}

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string labelText(const std::vector<std::string>& names, const Labels& values, const std::string& extra = "") {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i)
    out += (out.empty() ? "" : ",") + names[i] + "=\"" + escape(values[i]) + "\"";
  if (!extra.empty()) out += (out.empty() ? "" : ",") + extra;
  return out.empty() ? "" : "{" + out + "}";
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

const std::vector<double>& latencyBuckets() {
  static const std::vector<double> b{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

template <class Metric>
Family<Metric>::Family(std::string name, std::string help, std::vector<std::string> labelNames, std::vector<double> bounds)
    : name_(std::move(name)), help_(std::move(help)), labelNames_(std::move(labelNames)), bounds_(std::move(bounds)) {
  const char* type = std::is_same_v<Metric, Counter> ? "counter" : std::is_same_v<Metric, Gauge> ? "gauge" : "histogram";
  std::lock_guard lock(registry().mutex);
  registry().renderers.push_back([this, type](std::string& out) {
    out += "# HELP " + name_ + " " + help_ + "\n# TYPE " + name_ + " " + type + "\n";
    forEach([&](const Labels& labels, const Metric& m) {
      if constexpr (std::is_same_v<Metric, Histogram>) {
        uint64_t cumulative = 0;
        for (size_t i = 0; i <= m.bounds().size(); ++i) {
          cumulative += m.bucket(i);
          std::string le = i < m.bounds().size() ? number(m.bounds()[i]) : "+Inf";
          out += name_ + "_bucket" + labelText(labelNames_, labels, "le=\"" + le + "\"") + " " + std::to_string(cumulative) + "\n";
        }
        out += name_ + "_sum" + labelText(labelNames_, labels) + " " + number(m.sum()) + "\n";
        out += name_ + "_count" + labelText(labelNames_, labels) + " " + std::to_string(m.count()) + "\n";
      } else {
        out += name_ + labelText(labelNames_, labels) + " " + number(m.value()) + "\n";
      }
    });
  });
}

template <class Metric>
Metric& Family<Metric>::with(const Labels& values) {
  {
    std::shared_lock lock(mutex_);
    auto it = series_.find(values);
    if (it != series_.end()) return *it->second;
  }
  std::unique_lock lock(mutex_);
  auto& slot = series_[values];
  if (!slot) {
    if constexpr (std::is_same_v<Metric, Histogram>) slot = std::make_unique<Histogram>(bounds_.empty() ? latencyBuckets() : bounds_);
    else slot = std::make_unique<Metric>();
  }
  return *slot;
}

template <class Metric>
void Family<Metric>::forEach(const std::function<void(const Labels&, const Metric&)>& f) const {
  std::shared_lock lock(mutex_);
  for (const auto& [labels, m] : series_) f(labels, *m);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

void registerCallbackGauge(const std::string& name, const std::string& help, std::function<double()> value) {
  std::lock_guard lock(registry().mutex);
  auto& entry = registry().callbacks[name];
  entry.first = help;
  entry.second.push_back(std::move(value));
}

void unregisterCallbackGauge(const std::string& name) {
  std::lock_guard lock(registry().mutex);
  registry().callbacks.erase(name);
}

std::string exposition() {
  std::string out;
  std::lock_guard lock(registry().mutex);
  for (auto& render : registry().renderers) render(out);
  for (auto& [name, entry] : registry().callbacks) {
    double total = 0;
    for (auto& f : entry.second) total += f();
    out += "# HELP " + name + " " + entry.first + "\n# TYPE " + name + " gauge\n" + name + " " + number(total) + "\n";
  }
  // Process metrics, under the names every Prometheus setup knows.
  std::ifstream stat("/proc/self/stat");
  std::string statLine;
  std::getline(stat, statLine);
  auto close = statLine.rfind(')');
  std::istringstream fields(close == std::string::npos ? "" : statLine.substr(close + 2));
  std::vector<std::string> f{std::istream_iterator<std::string>(fields), std::istream_iterator<std::string>()};
  double ticks = double(sysconf(_SC_CLK_TCK));
  if (f.size() > 22) {
    double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;
    double rss = std::stod(f[21]) * double(sysconf(_SC_PAGESIZE));
    std::ifstream uptimeFile("/proc/uptime");
    double uptime = 0;
    uptimeFile >> uptime;
    double start = double(time(nullptr)) - uptime + std::stod(f[19]) / ticks;
    out += "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\n";
    out += "process_cpu_seconds_total " + number(cpu) + "\n";
    out += "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n";
    out += "process_resident_memory_bytes " + number(rss) + "\n";
    out += "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\n";
    out += "process_start_time_seconds " + number(std::floor(start)) + "\n";
  }
  int fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++fds;
    closedir(d);
  }
  out += "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds " +
         std::to_string(std::max(0, fds - 2)) + "\n";
  return out;
}

}  // namespace skiff::observe
