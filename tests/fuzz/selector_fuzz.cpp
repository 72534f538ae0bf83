// Fuzz target: label and field selector parsing and matching.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/selector.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skiff::api;
  static const boost::json::value object = boost::json::parse(
      R"({"metadata":{"name":"p","labels":{"app":"web","tier":"1"}},"spec":{"nodeName":"n"},"status":{"phase":"Running"}})");
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto l = LabelSelector::parse(text)) (void)l->matches(object.as_object().at("metadata").as_object().if_contains("labels"));
  if (auto f = FieldSelector::parse(text)) (void)f->matches(object);
  return 0;
}
