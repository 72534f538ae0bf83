// Prometheus metrics: counters, gauges and histograms with labels, rendered in the text
// exposition format on /metrics. Recording is lock-free (atomics) once a series exists; a series
// is looked up under a shared lock. Components define their metrics as function-local statics
// next to the code they measure.
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

namespace skiff::observe {

using Labels = std::vector<std::string>;  // values, in the family's label order

class Counter {
 public:
  void inc(double by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds) : bounds_(bounds), buckets_(bounds.size() + 1) {}
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<uint64_t>> buckets_;  // non-cumulative; rendered cumulatively
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

// Latency buckets from 0.5 ms to 10 s.
const std::vector<double>& latencyBuckets();

template <class Metric>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> labelNames, std::vector<double> bounds = {});
  Metric& with(const Labels& values);
  // For exposition.
  void forEach(const std::function<void(const Labels&, const Metric&)>& f) const;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& labelNames() const { return labelNames_; }

 private:
  std::string name_, help_;
  std::vector<std::string> labelNames_;
  std::vector<double> bounds_;
  mutable std::shared_mutex mutex_;
  std::map<Labels, std::unique_ptr<Metric>> series_;
};

// A gauge computed when scraped (queue depths, watch counts, store revision).
void registerCallbackGauge(const std::string& name, const std::string& help, std::function<double()> value);
// Removes callback gauges registered under `name` (components that stop, tests).
void unregisterCallbackGauge(const std::string& name);

// Everything registered, in the Prometheus text format (version 0.0.4).
std::string exposition();

}  // namespace skiff::observe
