#include "api/cron.h"

#include <gtest/gtest.h>

namespace skiff::api {

int64_t at(const char* t) {
  std::tm tm{};
  strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
  return int64_t(timegm(&tm));
}

TEST(Cron, NextTimes) {
  auto every15 = CronSchedule::parse("*/15 * * * *");
  ASSERT_TRUE(every15.ok());
  EXPECT_EQ(every15->next(at("2026-11-22T07:01:00")), at("2026-11-22T07:15:00"));
  auto daily = CronSchedule::parse("@daily");
  EXPECT_EQ(daily->next(at("2026-11-22T07:01:00")), at("2026-11-23T00:00:00"));
  auto weekdays = CronSchedule::parse("30 9 * * mon-fri");
  EXPECT_EQ(weekdays->next(at("2026-11-21T10:00:00")), at("2026-11-23T09:30:00"));  // Saturday -> Monday
  auto list = CronSchedule::parse("0 0,12 1 jan,jul *");
  EXPECT_EQ(list->next(at("2026-11-22T07:01:00")), at("2027-01-01T00:00:00"));
  auto sunday7 = CronSchedule::parse("0 0 * * 7");
  EXPECT_EQ(sunday7->next(at("2026-11-22T07:00:00")), at("2026-11-29T00:00:00"));
}

TEST(Cron, BadSchedules) {
  for (const char* bad : {"", "* * * *", "61 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "1-x * * * *", "@sometimes", "5-1 * * * *"})
    EXPECT_FALSE(CronSchedule::parse(bad).ok()) << bad;
}

}  // namespace skiff::api
