// skiff image ls|pull|import|rm|prune: the node's images (the agent's store), like crictl's.
#include <boost/json.hpp>
#include <filesystem>

#include "api/object.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "cli/printer.h"

namespace skiff::cli {
namespace json = boost::json;

namespace {

std::string humanSize(uint64_t bytes) {
  char buf[32];
  if (bytes >= 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1fMB", double(bytes) / 1e6);
  else std::snprintf(buf, sizeof buf, "%.1fkB", double(bytes) / 1e3);
  return buf;
}

void printImages(const json::value& list) {
  std::vector<std::vector<std::string>> rows{{"IMAGE", "ID", "SIZE", "LAYERS"}};
  if (const json::value* items = api::valueAt(list, "items"); items && items->is_array())
    for (const auto& i : items->get_array()) {
      std::string id = api::stringAt(i, "id");
      rows.push_back({api::stringAt(i, "name"), id.substr(7, 12), humanSize(uint64_t(api::valueAt(i, "size")->to_number<int64_t>())),
                      std::to_string(api::valueAt(i, "layers")->as_array().size())});
    }
  std::fputs(TablePrinter::align(rows).c_str(), stdout);
}

}  // namespace

int runImage(const Args& args) {
  auto specs = commonFlags();
  specs.push_back({"name", "", true});
  auto flags = Flags::parse(args, specs);
  if (!flags) return fail(flags.error().message);
  const auto& pos = flags->positional();
  if (pos.empty()) return fail("usage: skiff image ls | pull NAME | import FILE|DIR [--name NAME] | rm NAME | prune");
  auto ctx = Context::connect(*flags);
  if (!ctx) return fail(ctx.error().message);
  Context& c = **ctx;
  const std::string& verb = pos[0];
  if (verb == "ls" || verb == "list") {
    auto list = c.call("GET", "/skiff/v1/images");
    if (!list) return fail(list.error().message);
    printImages(*list);
    return 0;
  }
  if (verb == "pull" && pos.size() == 2) {
    auto img = c.call("POST", "/skiff/v1/images/pull", json::serialize(json::object{{"name", pos[1]}}));
    if (!img) return fail(img.error().message);
    std::printf("%s: %s\n", api::stringAt(*img, "name").c_str(), api::stringAt(*img, "id").c_str());
    return 0;
  }
  if (verb == "import" && pos.size() == 2) {
    std::error_code ec;
    std::string path = std::filesystem::absolute(pos[1], ec).string();
    auto imgs = c.call("POST", "/skiff/v1/images/import", json::serialize(json::object{{"path", path}, {"name", flags->get("name")}}));
    if (!imgs) return fail(imgs.error().message);
    for (const auto& i : api::valueAt(*imgs, "items")->as_array())
      std::printf("imported %s (%s)\n", api::stringAt(i, "name").c_str(), api::stringAt(i, "id").c_str());
    return 0;
  }
  if ((verb == "rm" || verb == "remove") && pos.size() >= 2) {
    for (size_t i = 1; i < pos.size(); ++i) {
      auto r = c.call("DELETE", "/skiff/v1/images?name=" + http::percentEncode(pos[i]));
      if (!r) return fail(r.error().message);
      std::printf("Deleted: %s\n", api::stringAt(*r, "name").c_str());
    }
    return 0;
  }
  if (verb == "prune") {
    auto r = c.call("POST", "/skiff/v1/images/prune", "{}");
    if (!r) return fail(r.error().message);
    std::printf("removed %lld blobs and %lld unpacked layers, %s freed\n", (long long)api::valueAt(*r, "blobsRemoved")->to_number<int64_t>(),
                (long long)api::valueAt(*r, "layersRemoved")->to_number<int64_t>(),
                humanSize(uint64_t(api::valueAt(*r, "bytesFreed")->to_number<int64_t>())).c_str());
    return 0;
  }
  return fail("usage: skiff image ls | pull NAME | import FILE|DIR [--name NAME] | rm NAME | prune");
}

}  // namespace skiff::cli
