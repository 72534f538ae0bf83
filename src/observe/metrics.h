// Prometheus metrics: counters, gauges and histograms with labels, rendered in the text
// exposition format on /metrics. Components define their metrics as function-local statics
// next to the code they measure.
//
// Threading: recording is lock-free (atomics) once a series exists; finding a series takes its
// family's lock, briefly. Collection takes no lock that recording or registering takes: every
// family and every series is published once, fully built, on an append-only list that the
// exposition walks with acquire loads, and its label text is escaped when the series is created.
// So a scrape never holds up a proxy worker, however long it takes (issue 18: scraping /metrics
// every second had raised the node proxy's p99).
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

// What the exposition knows of a family: how to render itself, and the next one registered.
class RegisteredFamily {
 public:
  virtual ~RegisteredFamily() = default;
  virtual void render(std::string& out) const = 0;
  std::atomic<const RegisteredFamily*> next{nullptr};  // set once, when the next family registers
};

template <class Metric>
class Family final : public RegisteredFamily {
 public:
  Family(std::string name, std::string help, std::vector<std::string> labelNames, std::vector<double> bounds = {});
  ~Family() override;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  Metric& with(const Labels& values);
  // Every series created so far, without the lock `with` takes.
  void forEach(const std::function<void(const Labels&, const Metric&)>& f) const;
  void render(std::string& out) const override;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& labelNames() const { return labelNames_; }

 private:
  struct Series {
    template <class... MetricArgs>
    Series(Labels l, std::string text, MetricArgs&&... args) : labels(std::move(l)), labelText(std::move(text)), metric(args...) {}
    Labels labels;
    std::string labelText;  // name="value",... escaped once
    Metric metric;
    std::atomic<const Series*> next{nullptr};
  };

  std::string name_, help_;
  std::vector<std::string> labelNames_;
  std::vector<double> bounds_;
  std::string header_;               // the # HELP and # TYPE lines
  std::vector<std::string> le_;      // histograms: each bucket's le="..." text, +Inf last
  mutable std::shared_mutex mutex_;  // guards index_ and tail_; the exposition never takes it
  std::map<Labels, Series*> index_;  // owns the series (deleted with the family)
  std::atomic<const Series*> head_{nullptr};
  Series* tail_ = nullptr;
};

// A gauge computed when scraped (queue depths, watch counts, store revision). It runs on the
// scraping thread and must not wait for a proxy worker.
void registerCallbackGauge(const std::string& name, const std::string& help, std::function<double()> value);
// Removes callback gauges registered under `name` (components that stop, tests); waits for a
// scrape that is running them.
void unregisterCallbackGauge(const std::string& name);

// Everything registered, in the Prometheus text format (version 0.0.4).
std::string exposition();

}  // namespace skiff::observe
