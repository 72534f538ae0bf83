// Fuzz target: WebSocket frame parsing (exec streams from clients are untrusted).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/websocket.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  for (int i = 0; i < 64 && !rest.empty(); ++i) {
    size_t used = 0;
    auto f = skiff::http::parseWebSocketFrame(rest, used, 1 << 16);
    if (!f || !*f || used == 0) break;
    rest.remove_prefix(used);
  }
  return 0;
}
