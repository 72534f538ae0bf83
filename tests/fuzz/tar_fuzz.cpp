// Fuzz target: image layer streams (tar headers, pax records, gzip) read entry by entry.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "image/layer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skiff::image;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (bool gz : {false, true}) {
    TarReader reader(gz ? gunzip(memorySource(bytes)) : memorySource(bytes));
    TarEntry e;
    char buf[4096];
    for (int i = 0; i < 1000; ++i) {
      auto more = reader.next(e);
      if (!more || !*more) break;
      while (true) {
        auto n = reader.read(buf, sizeof buf);
        if (!n || *n == 0) break;
      }
    }
  }
  return 0;
}
