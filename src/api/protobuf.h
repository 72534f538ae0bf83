// Kubernetes' protobuf wire format for request bodies (application/vnd.kubernetes.protobuf).
//
// kubectl's `create <kind>`, `expose` and `autoscale` generators, and client-go programs built with
// protobuf content, send objects this way: the 4-byte magic "k8s\0" and a runtime.Unknown envelope
// {typeMeta{apiVersion, kind}, raw} whose raw bytes are the object's generated.proto message.
// skiff stores JSON, so bodies are decoded once, here, into the same JSON the object would have had
// (omitempty scalars dropped, inlined structs flattened, bytes as base64, Time as RFC 3339).
// The schema covers the kinds those generators create; a field skiff does not know is refused
// with its message and number rather than dropped.
#pragma once
#include <string_view>

#include <boost/json/value.hpp>

#include "common/result.h"

namespace skiff::api {

// True when the body starts with the Kubernetes protobuf magic.
bool isKubernetesProtobuf(std::string_view body);

Result<boost::json::value> decodeKubernetesProtobuf(std::string_view body);

}  // namespace skiff::api
