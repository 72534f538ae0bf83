// skiff version: the client's version and, when reachable, the server's.
#include <cstdio>

#include "api/object.h"
#include "cli/commands.h"
#include "cli/context.h"

namespace skiff::cli {

int runVersion(const Args& args) {
  auto specs = commonFlags();
  specs.push_back({"client", "", false});
  auto flags = Flags::parse(args, specs);
  if (!flags) return fail(flags.error().message);
  std::printf("Client Version: skiff %s (Kubernetes API v1.32)\n", SKIFF_VERSION);
  if (flags->has("client")) return 0;
  auto ctx = Context::connect(*flags);
  if (!ctx) {
    std::printf("Server Version: <unavailable: %s>\n", ctx.error().message.c_str());
    return 0;
  }
  auto v = (*ctx)->call("GET", "/version");
  if (!v) std::printf("Server Version: <unavailable: %s>\n", v.error().message.c_str());
  else std::printf("Server Version: %s\n", api::stringAt(*v, "gitVersion").c_str());
  return 0;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

}  // namespace skiff::cli
