// Reading and writing kubeconfig files (the subset skiff and kubectl need: server, token or
// client certificate, current context and its namespace).
#pragma once
#include <string>

#include "common/result.h"

namespace skiff::cli {

struct Kubeconfig {
  std::string server;     // https://127.0.0.1:6443
  std::string token;
  std::string caPem;      // certificate-authority-data, decoded
  std::string namespace_ = "default";
  std::string certPem = {}, keyPem = {};  // client-certificate-data / client-key-data, decoded (a node's identity)
  std::string userName = "skiff-admin";    // the users[] entry's name
};

std::string renderKubeconfig(const Kubeconfig& config);
Result<Kubeconfig> loadKubeconfig(const std::string& path);
// `path` names the text's origin in messages.
Result<Kubeconfig> parseKubeconfig(const std::string& text, const std::string& path);
// --kubeconfig, then $KUBECONFIG, then ./.skiff/kubeconfig, then ~/.kube/config.
std::string findKubeconfig(const std::string& flagValue);

}  // namespace skiff::cli
