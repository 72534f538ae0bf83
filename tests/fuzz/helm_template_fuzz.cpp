// Fuzz target: parsing and executing arbitrary Go templates with the chart functions. Bad
// templates must come back as errors; recursion, loops and output stay within the set's limits.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "helm/functions.h"
#include "helm/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skiff::helm;
  static const Value values = boost::json::parse(
      R"({"Values":{"a":1.0,"s":"x","l":[1,"b",{"c":null}],"m":{"k":"v"}},"Release":{"Name":"r"}})");
  static const FunctionMap functions = [] {
    FunctionMap f = sprigFunctions();
    for (auto& [k, v] : helmFunctions(nullptr)) f[k] = v;
    return f;
  }();
  TemplateSet set;
  set.addFunctions(functions);
  set.limits().maxCallDepth = 50;
  set.limits().maxOutputBytes = 1 << 20;
  set.limits().maxLoopIterations = 100000;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (set.parse("fuzz", text).ok()) (void)set.execute("fuzz", values);
  return 0;
}
