// skiff top pods|nodes [-n NS|-A] [-l SELECTOR]: usage from the metrics.k8s.io API, as kubectl top.
#include <boost/json.hpp>

#include "api/object.h"
#include "api/quantity.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "cli/printer.h"

namespace skiff::cli {
namespace json = boost::json;

int runTop(const Args& args) {
  auto specs = commonFlags();
  specs.push_back({"all-namespaces", "A", false});
  specs.push_back({"selector", "l", true});
  specs.push_back({"containers", "", false});
  auto flags = Flags::parse(args, specs);
  if (!flags) return fail(flags.error().message);
  if (flags->positional().empty()) return fail("usage: skiff top pods|nodes");
  std::string what = flags->positional()[0];
  auto ctx = Context::connect(*flags);
  if (!ctx) return fail(ctx.error().message);
  Context& c = **ctx;
  auto cores = [](const json::value* q) { return std::to_string(api::quantityMilli(q)) + "m"; };  // quantityMilli is millicores
  auto mebibytes = [](const json::value* q) { return std::to_string(api::quantityMilli(q) / 1000 / (1024 * 1024)) + "Mi"; };
  std::vector<std::vector<std::string>> rows;
  if (what == "nodes" || what == "node" || what == "no") {
    auto list = c.call("GET", "/apis/metrics.k8s.io/v1beta1/nodes");
    if (!list) return fail(list.error().message);
    rows.push_back({"NAME", "CPU(cores)", "MEMORY(bytes)"});
    for (const auto& n : api::valueAt(*list, "items")->get_array())
      rows.push_back({api::stringAt(n, "metadata.name"), cores(api::valueAt(n, "usage.cpu")), mebibytes(api::valueAt(n, "usage.memory"))});
  } else if (what == "pods" || what == "pod" || what == "po") {
    bool all = flags->has("all-namespaces");
    std::string path = "/apis/metrics.k8s.io/v1beta1" + (all ? std::string() : "/namespaces/" + c.namespace_()) + "/pods";
    if (flags->has("selector")) path += "?labelSelector=" + http::percentEncode(flags->get("selector"));
    auto list = c.call("GET", path);
    if (!list) return fail(list.error().message);
    bool perContainer = flags->has("containers");
    std::vector<std::string> header;
    if (all) header.push_back("NAMESPACE");
    header.push_back("NAME");
    if (perContainer) header.push_back("CONTAINER");
    header.insert(header.end(), {"CPU(cores)", "MEMORY(bytes)"});
    rows.push_back(header);
    for (const auto& p : api::valueAt(*list, "items")->get_array()) {
      int64_t cpu = 0, mem = 0;
      for (const auto& ct : api::valueAt(p, "containers")->get_array()) {
        if (perContainer) {
          std::vector<std::string> row;
          if (all) row.push_back(api::stringAt(p, "metadata.namespace"));
          row.insert(row.end(), {api::stringAt(p, "metadata.name"), api::stringAt(ct, "name"), cores(api::valueAt(ct, "usage.cpu")),
                                 mebibytes(api::valueAt(ct, "usage.memory"))});
          rows.push_back(row);
        }
        cpu += api::quantityMilli(api::valueAt(ct, "usage.cpu"));
        mem += api::quantityMilli(api::valueAt(ct, "usage.memory"));
      }
      if (!perContainer) {
        std::vector<std::string> row;
        if (all) row.push_back(api::stringAt(p, "metadata.namespace"));
        row.insert(row.end(), {api::stringAt(p, "metadata.name"), std::to_string(cpu) + "m", std::to_string(mem / 1000 / (1024 * 1024)) + "Mi"});
        rows.push_back(row);
      }
    }
    if (rows.size() == 1) {
      std::fprintf(stderr, "No resources found in %s namespace.\n", c.namespace_().c_str());
      return 0;
    }
  } else {
    return fail("top works on pods or nodes, not \"" + what + "\"");
  }
  std::fputs(TablePrinter::align(rows).c_str(), stdout);
  return 0;
}

}  // namespace skiff::cli
