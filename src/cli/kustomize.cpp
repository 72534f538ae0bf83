// skiff kustomize build DIR: prints the YAML stream `kubectl kustomize DIR` prints.
#include <cstdio>

#include "cli/commands.h"
#include "kustomize/kustomize.h"

namespace skiff::cli {

int runKustomize(const Args& args) {
  if (args.size() != 2 || args[0] != "build") return fail("usage: skiff kustomize build DIR");
  auto objects = kustomize::build(args[1]);
  if (!objects) return fail(objects.error().message);
  std::string out = kustomize::toYamlStream(*objects);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace skiff::cli
