// Helpers over Kubernetes objects held as JSON: metadata access, timestamps, uids.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

namespace skiff::api {

// The string at a dotted path ("metadata.name"), or "" when absent or not a string.
std::string stringAt(const boost::json::value& object, std::string_view dottedPath);
// The strings of the array at a dotted path (non-strings skipped); empty when absent.
std::vector<std::string> stringsAt(const boost::json::value& object, std::string_view dottedPath);
// The value at a dotted path, or nullptr.
const boost::json::value* valueAt(const boost::json::value& object, std::string_view dottedPath);
// The array at a dotted path, or an empty array when absent or not an array.
const boost::json::array& arrayAt(const boost::json::value& object, std::string_view dottedPath);
// A JSON array of the strings.
boost::json::array stringArray(const std::vector<std::string>& strings);
// Creates objects along a dotted path and returns the slot at its end.
boost::json::value& ensurePath(boost::json::value& object, std::string_view dottedPath);

boost::json::object& metadataOf(boost::json::value& object);

std::string rfc3339Now();                 // 2026-11-22T06:43:43Z
std::string rfc3339(int64_t secondsSinceEpoch);
int64_t parseRfc3339(std::string_view t);  // seconds since epoch, -1 if malformed
std::string newUid();                     // random UUID v4
std::string randomSuffix(size_t n = 5);   // for generateName, Kubernetes' alphabet
// "5s", "3m", "2h", "4d" as kubectl shows ages.
std::string humanDuration(int64_t seconds);

}  // namespace skiff::api
