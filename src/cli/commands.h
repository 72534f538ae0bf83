// Subcommands. Each takes the arguments after its name and returns the process exit code.
#pragma once
#include <string>
#include <vector>

namespace skiff::cli {

using Args = std::vector<std::string>;

int runUp(const Args& args);
int runServer(const Args& args);
int runAgent(const Args& args);
int runApply(const Args& args);
int runGet(const Args& args);
int runDescribe(const Args& args);
int runDelete(const Args& args);
int runVersion(const Args& args);
int runHelm(const Args& args);  // helm template and release management (Helm 3 storage)
int runRollout(const Args& args);
int runScale(const Args& args);
int runLogs(const Args& args);
int runEvents(const Args& args);
int runTop(const Args& args);
int runImage(const Args& args);
int runExec(const Args& args);
int runKustomize(const Args& args);
int runKubeconfig(const Args& args);  // kubeconfig create USER (a person's client certificate)
int runSecrets(const Args& args);  // secrets rotate (re-encryption at rest)
int runApp(const Args& args);  // Argo CD Applications: list, get, diff, sync, history, rollback, delete

// Prints "error: <message>" to stderr and returns 1.
int fail(const std::string& message);

}  // namespace skiff::cli
