#include "observe/metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

namespace skiff::observe {
namespace {

observe::Family<Counter>& scrapedCounters() {
  static Family<Counter> f("test_metrics_scraped_total", "Counters of the metrics tests.", {"case"});
  return f;
}

// A scrape in progress (held inside a callback gauge) must not hold up anything a proxy worker
// does to record: registering a family (the first call of a component's metric), creating a
// series, counting and observing. The old exposition held the registry lock for its whole run,
// so the recorder below could only finish after the scrape gave up waiting for it.
TEST(Metrics, RecordingDoesNotWaitForAScrapeInProgress) {
  static int run = 0;
  std::string label = "during-scrape-" + std::to_string(++run);
  std::promise<void> scrapeStarted, recorded;
  std::future<void> recordedFuture = recorded.get_future();
  bool recordedWhileScraping = false;
  registerCallbackGauge("test_metrics_blocking_gauge", "Holds a scrape open until the test has recorded.", [&] {
    scrapeStarted.set_value();
    // Only a guard against hanging on a broken build: on a working one the recorder is done at once.
    recordedWhileScraping = recordedFuture.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
    return 1.0;
  });
  std::string during;
  std::thread scraper([&] { during = exposition(); });
  scrapeStarted.get_future().wait();

  static Family<Counter> registeredDuringScrape("test_metrics_registered_during_scrape_total", "Registered while a scrape runs.", {"case"});
  registeredDuringScrape.with({label}).inc();
  scrapedCounters().with({label}).inc(2);
  static Family<Histogram> latency("test_metrics_latency_seconds", "Observed while a scrape runs.", {"case"});
  latency.with({label}).observe(0.002);
  recorded.set_value();

  scraper.join();
  unregisterCallbackGauge("test_metrics_blocking_gauge");
  EXPECT_TRUE(recordedWhileScraping) << "recording waited for the exposition to finish";
  EXPECT_NE(during.find("test_metrics_blocking_gauge 1\n"), std::string::npos);

  std::string after = exposition();
  EXPECT_NE(after.find("test_metrics_registered_during_scrape_total{case=\"" + label + "\"} 1\n"), std::string::npos) << after;
  EXPECT_NE(after.find("test_metrics_scraped_total{case=\"" + label + "\"} 2\n"), std::string::npos);
  EXPECT_NE(after.find("test_metrics_latency_seconds_count{case=\"" + label + "\"} 1\n"), std::string::npos);
  EXPECT_EQ(after.find("test_metrics_blocking_gauge"), std::string::npos);
}

TEST(Metrics, RendersTheTextFormat) {
  static Family<Counter> counters("test_metrics_render_total", "Rendering.", {"path", "code"});
  counters.with({"a\"b\\c\nd", "200"}).inc(3);
  static Family<Gauge> plain("test_metrics_render_plain", "No labels.", {});
  plain.with({}).set(0.25);
  static Family<Histogram> sizes("test_metrics_render_bytes", "Bucketed.", {"kind"}, {1, 10});
  auto& h = sizes.with({"x"});
  h.observe(0.5);
  h.observe(5);
  h.observe(50);

  std::string text = exposition();
  EXPECT_NE(text.find("# HELP test_metrics_render_total Rendering.\n# TYPE test_metrics_render_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("test_metrics_render_total{path=\"a\\\"b\\\\c\\nd\",code=\"200\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE test_metrics_render_plain gauge\ntest_metrics_render_plain 0.25\n"), std::string::npos);
  EXPECT_NE(text.find("test_metrics_render_bytes_bucket{kind=\"x\",le=\"1\"} 1\n"
                      "test_metrics_render_bytes_bucket{kind=\"x\",le=\"10\"} 2\n"
                      "test_metrics_render_bytes_bucket{kind=\"x\",le=\"+Inf\"} 3\n"
                      "test_metrics_render_bytes_sum{kind=\"x\"} 55.5\n"
                      "test_metrics_render_bytes_count{kind=\"x\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("process_open_fds "), std::string::npos);
}

TEST(Metrics, ForEachVisitsEverySeriesInCreationOrder) {
  static Family<Counter> f("test_metrics_foreach_total", "forEach.", {"n"});
  static int run = 0;
  std::string prefix = std::to_string(++run) + "-";
  for (int i = 0; i < 50; ++i) f.with({prefix + std::to_string(i)}).inc(i);
  f.with({prefix + "7"}).inc();  // an existing series: found, not duplicated
  std::vector<std::pair<std::string, double>> seen;
  f.forEach([&](const Labels& labels, const Counter& c) {
    if (labels[0].starts_with(prefix)) seen.emplace_back(labels[0], c.value());
  });
  ASSERT_EQ(seen.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(seen[size_t(i)].first, prefix + std::to_string(i));
    EXPECT_EQ(seen[size_t(i)].second, i == 7 ? 8 : i);
  }
}

// Many recorders creating series while scrapes walk the lists: every series and every count
// arrives (run under ASan/TSan, this is also the check that the walk is safe).
TEST(Metrics, ConcurrentSeriesCreationAndScrapes) {
  static Family<Counter> f("test_metrics_concurrent_total", "Concurrent.", {"worker", "n"});
  static int run = 0;
  std::string tag = std::to_string(++run);
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) (void)exposition();
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&, w] {
      for (int i = 0; i < 500; ++i) f.with({tag + "-" + std::to_string(w), std::to_string(i % 100)}).inc();
    });
  for (auto& t : workers) t.join();
  done = true;
  scraper.join();
  double total = 0;
  int series = 0;
  f.forEach([&](const Labels& labels, const Counter& c) {
    if (labels[0].starts_with(tag + "-")) {
      total += c.value();
      ++series;
    }
  });
  EXPECT_EQ(series, 400);
  EXPECT_EQ(total, 2000);
}

}  // namespace
}  // namespace skiff::observe
