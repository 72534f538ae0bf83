// The platform's certificate authority and the API server's serving certificate.
//
// On first start skiff makes an EC P-256 CA (10 years) and a serving certificate signed by it
// (1 year, SANs for loopback and the listen host) under DIR/tls/. Later starts reuse them and
// re-issue the serving certificate when it nears expiry or lacks the listen host.
#pragma once
#include <string>
#include <vector>

#include "common/result.h"

namespace skiff::pki {

struct ServingBundle {
  std::string caCertPem;
  std::string certPem;  // serving certificate
  std::string keyPem;   // its private key
};

Result<ServingBundle> ensureServingCertificate(const std::string& dir, const std::vector<std::string>& hosts);

}  // namespace skiff::pki
