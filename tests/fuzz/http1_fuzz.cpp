// Fuzz target: the node proxy's HTTP/1.1 parsing (anyone who can reach a cluster IP or a Gateway
// sends it what they like; upstream pods answer what they like).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/http1.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skiff::proxy::http1;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Head head;
  Error error;
  if (parseRequest(in, 4096, head, error) == Parse::kComplete) {
    // Everything the proxy reads from a parsed head must lie inside the input.
    for (const auto& h : head.headers) {
      if (h.name.data() < in.data() || h.name.data() + h.name.size() > in.data() + in.size()) __builtin_trap();
      (void)head.isHopByHop(h.name);
    }
    if (head.length > in.size()) __builtin_trap();
    if (head.framing == Framing::kChunked) {
      ChunkedFramer framer;
      size_t used = framer.feed(in.data() + head.length, in.size() - head.length);
      if (used > in.size() - head.length) __builtin_trap();
    }
  }
  if (parseResponse(in, 4096, "GET", head, error) == Parse::kComplete && head.length > in.size()) __builtin_trap();
  // The framer byte by byte must agree with the framer on the whole input.
  ChunkedFramer whole, bytes;
  size_t a = whole.feed(in.data(), in.size()), b = 0;
  for (size_t i = 0; i < in.size() && !bytes.done() && !bytes.failed(); ++i) b += bytes.feed(in.data() + i, 1);
  if (whole.done() != bytes.done() || whole.failed() != bytes.failed() || (whole.done() && a != b)) __builtin_trap();
  return 0;
}
