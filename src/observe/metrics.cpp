#include "observe/metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>

namespace skiff::observe {
namespace {

struct Registry {
  // Serialises registering families; the exposition walks `families` without it.
  std::mutex registering;
  std::atomic<const RegisteredFamily*> families{nullptr};
  RegisteredFamily* lastFamily = nullptr;
  // Held while callback gauges run, so unregistering one waits until no scrape is calling it.
  // Recording never takes it.
  std::mutex callbacksMutex;
  std::map<std::string, std::pair<std::string, std::vector<std::function<double()>>>> callbacks;
  std::atomic<size_t> lastSize{0};  // the previous exposition's length, to reserve once
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: metrics may be touched during shutdown
  return *r;
}

void registerFamily(RegisteredFamily* f) {
  Registry& r = registry();
  std::lock_guard lock(r.registering);
  if (r.lastFamily) r.lastFamily->next.store(f, std::memory_order_release);
  else r.families.store(f, std::memory_order_release);
  r.lastFamily = f;
}

void appendEscaped(std::string& out, const std::string& v) {
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
}

std::string labelText(const std::vector<std::string>& names, const Labels& values) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    appendEscaped(out, values[i]);
    out += '"';
  }
  return out;
}

// Shortest text that reads back as the same double.
void appendNumber(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc() ? end : buf);
}

void appendNumber(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc() ? end : buf);
}

// name{labels,extra} value\n — the braces only when there is something inside.
template <class Value>
void appendSample(std::string& out, const std::string& name, const char* suffix, const std::string& labels, const std::string& extra, Value v) {
  out += name;
  out += suffix;
  if (!labels.empty() || !extra.empty()) {
    out += '{';
    out += labels;
    if (!labels.empty() && !extra.empty()) out += ',';
    out += extra;
    out += '}';
  }
  out += ' ';
  appendNumber(out, v);
  out += '\n';
}

void appendHeader(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void appendCallbackGauges(std::string& out) {
  Registry& r = registry();
  std::lock_guard lock(r.callbacksMutex);
  for (auto& [name, entry] : r.callbacks) {
    double total = 0;
    for (auto& f : entry.second) total += f();
    appendHeader(out, name, entry.first, "gauge");
    appendSample(out, name, "", "", "", total);
  }
}

// Process metrics, under the names every Prometheus setup knows.
void appendProcessMetrics(std::string& out) {
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
    appendHeader(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter");
    appendSample(out, "process_cpu_seconds_total", "", "", "", cpu);
    appendHeader(out, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge");
    appendSample(out, "process_resident_memory_bytes", "", "", "", rss);
    appendHeader(out, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge");
    appendSample(out, "process_start_time_seconds", "", "", "", std::floor(start));
  }
  int fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++fds;
    closedir(d);
  }
  appendHeader(out, "process_open_fds", "Number of open file descriptors.", "gauge");
  appendSample(out, "process_open_fds", "", "", "", double(std::max(0, fds - 2)));
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
  appendHeader(header_, name_, help_, type);
  if constexpr (std::is_same_v<Metric, Histogram>) {
    if (bounds_.empty()) bounds_ = latencyBuckets();
    for (double b : bounds_) {
      std::string le = "le=\"";
      appendNumber(le, b);
      le_.push_back(le + "\"");
    }
    le_.push_back("le=\"+Inf\"");
  }
  registerFamily(this);
}

template <class Metric>
Family<Metric>::~Family() {
  for (auto& [labels, series] : index_) delete series;
}

template <class Metric>
Metric& Family<Metric>::with(const Labels& values) {
  {
    std::shared_lock lock(mutex_);
    auto it = index_.find(values);
    if (it != index_.end()) return it->second->metric;
  }
  std::unique_lock lock(mutex_);
  Series*& slot = index_[values];
  if (!slot) {
    if constexpr (std::is_same_v<Metric, Histogram>) slot = new Series(values, labelText(labelNames_, values), bounds_);
    else slot = new Series(values, labelText(labelNames_, values));
    // Published only now, whole: a scrape walking the list sees it complete or not at all.
    if (tail_) tail_->next.store(slot, std::memory_order_release);
    else head_.store(slot, std::memory_order_release);
    tail_ = slot;
  }
  return slot->metric;
}

template <class Metric>
void Family<Metric>::forEach(const std::function<void(const Labels&, const Metric&)>& f) const {
  for (const Series* s = head_.load(std::memory_order_acquire); s; s = s->next.load(std::memory_order_acquire)) f(s->labels, s->metric);
}

template <class Metric>
void Family<Metric>::render(std::string& out) const {
  out += header_;
  for (const Series* s = head_.load(std::memory_order_acquire); s; s = s->next.load(std::memory_order_acquire)) {
    const Metric& m = s->metric;
    if constexpr (std::is_same_v<Metric, Histogram>) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < le_.size(); ++i) {
        cumulative += m.bucket(i);
        appendSample(out, name_, "_bucket", s->labelText, le_[i], cumulative);
      }
      appendSample(out, name_, "_sum", s->labelText, "", m.sum());
      // The +Inf bucket's total, so the two agree while observations land mid-scrape.
      appendSample(out, name_, "_count", s->labelText, "", cumulative);
    } else {
      appendSample(out, name_, "", s->labelText, "", m.value());
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

void registerCallbackGauge(const std::string& name, const std::string& help, std::function<double()> value) {
  std::lock_guard lock(registry().callbacksMutex);
  auto& entry = registry().callbacks[name];
  entry.first = help;
  entry.second.push_back(std::move(value));
}

void unregisterCallbackGauge(const std::string& name) {
  std::lock_guard lock(registry().callbacksMutex);
  registry().callbacks.erase(name);
}

std::string exposition() {
  Registry& r = registry();
  std::string out;
  out.reserve(r.lastSize.load(std::memory_order_relaxed) + 4096);
  for (const RegisteredFamily* f = r.families.load(std::memory_order_acquire); f; f = f->next.load(std::memory_order_acquire)) f->render(out);
  appendCallbackGauges(out);
  appendProcessMetrics(out);
  r.lastSize.store(out.size(), std::memory_order_relaxed);
  return out;
}

}  // namespace skiff::observe
