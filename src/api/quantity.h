// Kubernetes resource quantities ("100m", "1.5Gi", "2e3") as integers: milli-units for CPU,
// whole units (bytes, counts) for everything else.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

#include <boost/json/fwd.hpp>

namespace skiff::api {

// The quantity in milli-units (1 CPU = 1000, "100m" = 100, "1Ki" = 1024000); nullopt if malformed.
std::optional<int64_t> parseQuantityMilli(std::string_view q);
// A JSON quantity (string or number) in milli-units; 0 when absent or malformed.
int64_t quantityMilli(const boost::json::value* v);

}  // namespace skiff::api
