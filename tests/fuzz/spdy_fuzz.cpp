// Fuzz target: SPDY/3 frames and compressed header blocks (port-forward clients are untrusted).
// The input is split in two so a valid compressed header block can be followed by garbage on
// the same session's zlib context.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/spdy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  skiff::http::spdy::Codec codec;
  size_t half = in.size() / 2;
  for (std::string_view part : {in.substr(0, half), in.substr(half)}) {
    codec.feed(part);
    for (int i = 0; i < 256; ++i) {
      auto f = codec.next();
      if (!f || !*f) break;
    }
  }
  return 0;
}
