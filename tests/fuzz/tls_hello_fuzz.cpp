// Fuzz target: the ClientHello reader of TLS passthrough listeners (any client may connect).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/tls_client_hello.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string name;
  auto r = skiff::proxy::parseClientHello(std::string_view(reinterpret_cast<const char*>(data), size), name);
  if (r != skiff::proxy::ClientHello::kComplete && !name.empty()) __builtin_trap();  // a name only with a whole hello
  return 0;
}
