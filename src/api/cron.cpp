#include "api/cron.h"

#include <ctime>
#include <string>
#include <vector>

namespace skiff::api {
namespace {

int nameValue(std::string_view s, bool months) {
  static const char* monthNames[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  static const char* dayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  std::string lower(s);
  for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (months) {
    for (int i = 0; i < 12; ++i)
      if (lower == monthNames[i]) return i + 1;
  } else {
    for (int i = 0; i < 7; ++i)
      if (lower == dayNames[i]) return i;
  }
  return -1;
}

Result<int> number(std::string_view s, int lo, int hi, bool months, bool days, std::string_view field) {
  int v = -1;
  if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0]))) {
    v = 0;
    for (char c : s) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return Error::invalid("bad number \"" + std::string(s) + "\" in " + std::string(field));
      v = v * 10 + (c - '0');
      if (v > 1000) break;
    }
  } else if (months || days) {
    v = nameValue(s, months);
  }
  if (days && v == 7) v = 0;  // Sunday may be 7
  if (v < lo || v > hi)
    return Error::invalid("\"" + std::string(s) + "\" is out of range " + std::to_string(lo) + "-" + std::to_string(hi) + " in " + std::string(field));
  return v;
}

Result<uint64_t> field(std::string_view text, int lo, int hi, bool months, bool days, std::string_view name, bool* star) {
  uint64_t bits = 0;
  *star = text == "*" || text == "?";
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view part = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (part.empty()) return Error::invalid("empty list item in " + std::string(name));
    int step = 1;
    if (auto slash = part.find('/'); slash != std::string_view::npos) {
      auto s = number(part.substr(slash + 1), 1, hi - lo + 1, false, false, name);
      if (!s) return s.error();
      step = *s;
      part = part.substr(0, slash);
    }
    int a = lo, b = hi;
    if (part != "*" && part != "?") {
      auto dash = part.find('-');
      auto x = number(part.substr(0, dash), lo, days ? 7 : hi, months, days, name);
      if (!x) return x.error();
      a = b = *x;
      if (dash != std::string_view::npos) {
        auto y = number(part.substr(dash + 1), lo, days ? 7 : hi, months, days, name);
        if (!y) return y.error();
        b = (days && *y == 0 && part.substr(dash + 1) == "7") ? 7 : *y;
        if (b < a) return Error::invalid("range " + std::string(part) + " goes backwards in " + std::string(name));
      } else if (step > 1) {
        b = hi;  // "5/15" means from 5 in steps of 15
      }
    }
    for (int v = a; v <= b; v += step) bits |= uint64_t(1) << (days && v == 7 ? 0 : v);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return bits;
}

}  // namespace

Result<CronSchedule> CronSchedule::parse(std::string_view text) {
  std::string s(text);
  if (s == "@yearly" || s == "@annually") s = "0 0 1 1 *";
  else if (s == "@monthly") s = "0 0 1 * *";
  else if (s == "@weekly") s = "0 0 * * 0";
  else if (s == "@daily" || s == "@midnight") s = "0 0 * * *";
  else if (s == "@hourly") s = "0 * * * *";
  else if (!s.empty() && s[0] == '@') return Error::invalid("unknown descriptor " + s);
  std::vector<std::string> fields;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = s.find(' ', i);
    if (i < s.size()) fields.push_back(s.substr(i, j == std::string::npos ? std::string::npos : j - i));
    i = j == std::string::npos ? s.size() : j;
  }
  if (fields.size() != 5) return Error::invalid("expected exactly 5 fields, found " + std::to_string(fields.size()) + ": \"" + std::string(text) + "\"");
  CronSchedule c;
  bool ignore;
  auto m = field(fields[0], 0, 59, false, false, "minute", &ignore);
  auto h = field(fields[1], 0, 23, false, false, "hour", &ignore);
  auto d = field(fields[2], 1, 31, false, false, "day of month", &c.dayStar_);
  auto mo = field(fields[3], 1, 12, true, false, "month", &ignore);
  auto w = field(fields[4], 0, 6, false, true, "day of week", &c.weekdayStar_);
  for (const auto* r : {&m, &h, &d, &mo, &w})
    if (!*r) return r->error();
  c.minutes_ = *m;
  c.hours_ = uint32_t(*h);
  c.days_ = uint32_t(*d);
  c.months_ = uint32_t(*mo);
  c.weekdays_ = uint32_t(*w);
  return c;
}

std::optional<int64_t> CronSchedule::next(int64_t after) const {
  int64_t t = (after / 60 + 1) * 60;
  for (int64_t limit = 0; limit < 5 * 366 * 24 * 60; ++limit) {
    std::time_t tt = std::time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    if (!(months_ >> (tm.tm_mon + 1) & 1)) {  // skip to the next month
      tm.tm_mon += 1;
      tm.tm_mday = 1;
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
      t = int64_t(timegm(&tm));
      continue;
    }
    bool dom = days_ >> tm.tm_mday & 1, dow = weekdays_ >> tm.tm_wday & 1;
    // Standard cron: when both day fields are restricted, either may match.
    bool dayOk = (dayStar_ || weekdayStar_) ? (dom && dow) : (dom || dow);
    if (!dayOk) {
      tm.tm_mday += 1;
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
      t = int64_t(timegm(&tm));
      continue;
    }
    if (!(hours_ >> tm.tm_hour & 1)) {
      tm.tm_hour += 1;
      tm.tm_min = tm.tm_sec = 0;
      t = int64_t(timegm(&tm));
      continue;
    }
    if (!(minutes_ >> tm.tm_min & 1)) {
      t += 60;
      continue;
    }
    return t;
  }
  return std::nullopt;
}

}  // namespace skiff::api
