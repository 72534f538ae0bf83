// Cron schedules as CronJobs use them: five fields (minute hour day-of-month month day-of-week)
// with *, lists, ranges, steps and names (jan, mon), plus @hourly/@daily/@weekly/@monthly/@yearly.
// Times are UTC, in whole minutes.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace skiff::api {

class CronSchedule {
 public:
  static Result<CronSchedule> parse(std::string_view text);
  // The first scheduled time strictly after `after` (seconds since epoch), within ~5 years.
  std::optional<int64_t> next(int64_t after) const;

 private:
  uint64_t minutes_ = 0;  // bit per allowed value
  uint32_t hours_ = 0, days_ = 0, months_ = 0, weekdays_ = 0;
  bool dayStar_ = false, weekdayStar_ = false;
};

}  // namespace skiff::api
