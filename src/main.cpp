// skiff: one binary, many tools, dispatched from one table.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"

namespace {

struct Command {
  const char* name;
  int (*run)(const skiff::cli::Args&);
  const char* summary;
};

const Command kCommands[] = {
    {"up", skiff::cli::runUp, "run the whole platform in this process (API server, embedded store)"},
    {"server", skiff::cli::runServer, "run the control plane: API server, store, controllers, scheduler"},
    {"agent", skiff::cli::runAgent, "run this machine as a node of a cluster (--server, --kubeconfig)"},
    {"apply", skiff::cli::runApply, "create or update objects from manifests (-f FILE|DIR|-, -k KUSTOMIZATION_DIR)"},
    {"get", skiff::cli::runGet, "list objects as tables, or print them as yaml/json (-o)"},
    {"describe", skiff::cli::runDescribe, "show one object in detail with its events"},
    {"delete", skiff::cli::runDelete, "delete objects by name, selector or manifest"},
    {"events", skiff::cli::runEvents, "what controllers, the scheduler and the agent did and why (-w to follow)"},
    {"logs", skiff::cli::runLogs, "print or follow (-f) a container's output (-c, --previous, -l SELECTOR)"},
    {"rollout", skiff::cli::runRollout, "status, history, undo, pause, resume or restart a deployment's rollout"},
    {"scale", skiff::cli::runScale, "set a deployment's or replica set's replicas (--replicas=N)"},
    {"top", skiff::cli::runTop, "CPU and memory of pods or nodes (from their cgroups)"},
    {"exec", skiff::cli::runExec, "run a command in a container: skiff exec POD [-c C] [-i] -- CMD"},
    {"kustomize", skiff::cli::runKustomize, "render a kustomization: skiff kustomize build DIR"},
    {"image", skiff::cli::runImage, "the node's images: ls, pull, import, rm, prune"},
    {"helm", skiff::cli::runHelm, "Helm charts: helm template|install|upgrade|rollback|uninstall|list|status|history|get|test|repo"},
    {"kubeconfig", skiff::cli::runKubeconfig, "make a kubeconfig for a person: kubeconfig create USER [--group G] [--expires 720h]"},
    {"secrets", skiff::cli::runSecrets, "re-encrypt stored Secrets with the first configured key: secrets rotate"},
    {"app", skiff::cli::runApp, "Argo CD Applications: list, get, diff, sync, history, rollback NAME ID, delete"},
    {"version", skiff::cli::runVersion, "print client and server versions"},
};

void usage(FILE* out) {
  std::fprintf(out, "skiff: a cloud-native platform in one binary\n\nUsage: skiff COMMAND [flags]\n\nCommands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  std::fprintf(out,
               "\nClient commands read ./.skiff/kubeconfig (or $KUBECONFIG, --kubeconfig) and accept -n NAMESPACE.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    usage(stdout);
    return argc < 2 ? 1 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) return skiff::cli::runVersion({"--client"});
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& c : kCommands)
    if (!std::strcmp(argv[1], c.name)) {
      skiff::cli::Flags::describeCommand(c.name, c.summary);
      try {
        return c.run(args);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
      }
    }
  std::fprintf(stderr, "error: unknown command \"%s\"\n\n", argv[1]);
  usage(stderr);
  return 1;
}
