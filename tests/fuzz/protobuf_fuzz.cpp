// Fuzz target: Kubernetes protobuf request bodies (runtime.Unknown envelope + generated.proto objects).
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/protobuf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body("k8s\0", 4);  // most inputs should get past the magic
  body.append(reinterpret_cast<const char*>(data), size);
  (void)skiff::api::decodeKubernetesProtobuf(body);
  (void)skiff::api::decodeKubernetesProtobuf(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
