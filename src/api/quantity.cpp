#include "api/quantity.h"

#include <boost/json.hpp>
#include <cmath>
#include <string>

#include "api/admission.h"

namespace skiff::api {

std::optional<int64_t> parseQuantityMilli(std::string_view q) {
  if (!isValidQuantity(q)) return std::nullopt;
  size_t i = 0;
  while (i < q.size() && (std::isdigit(static_cast<unsigned char>(q[i])) || q[i] == '.' || q[i] == '+' || q[i] == '-')) ++i;
  long double number = std::strtold(std::string(q.substr(0, i)).c_str(), nullptr);
  std::string_view suffix = q.substr(i);
  long double scale = 1;
  if (suffix.empty()) scale = 1;
  else if (suffix[0] == 'e' || suffix[0] == 'E') scale = std::pow(10.0L, std::strtold(std::string(suffix.substr(1)).c_str(), nullptr));
  else if (suffix == "n") scale = 1e-9L;
  else if (suffix == "u") scale = 1e-6L;
  else if (suffix == "m") scale = 1e-3L;
  else if (suffix == "k") scale = 1e3L;
  else if (suffix == "M") scale = 1e6L;
  else if (suffix == "G") scale = 1e9L;
  else if (suffix == "T") scale = 1e12L;
  else if (suffix == "P") scale = 1e15L;
  else if (suffix == "E") scale = 1e18L;
  else if (suffix == "Ki") scale = 1024.0L;
  else if (suffix == "Mi") scale = 1024.0L * 1024;
  else if (suffix == "Gi") scale = 1024.0L * 1024 * 1024;
  else if (suffix == "Ti") scale = 1024.0L * 1024 * 1024 * 1024;
  else if (suffix == "Pi") scale = 1024.0L * 1024 * 1024 * 1024 * 1024;
  else if (suffix == "Ei") scale = 1024.0L * 1024 * 1024 * 1024 * 1024 * 1024;
  else return std::nullopt;
  long double milli = std::ceil(number * scale * 1000.0L);  // Kubernetes rounds up
  if (milli > 9.2e18L || milli < -9.2e18L) return std::nullopt;
  return int64_t(milli);
}

int64_t quantityMilli(const boost::json::value* v) {
  if (!v) return 0;
  if (v->is_string()) return parseQuantityMilli(v->get_string()).value_or(0);
  if (v->is_int64()) return v->get_int64() * 1000;
  if (v->is_uint64()) return int64_t(v->get_uint64()) * 1000;
  if (v->is_double()) return int64_t(std::ceil(v->get_double() * 1000));
  return 0;
}

}  // namespace skiff::api
