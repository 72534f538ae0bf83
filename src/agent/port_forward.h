// The kubelet's port-forward protocol, served on one connection: kubectl opens a pair of SPDY
// streams per forwarded connection (headers streamtype=error|data, port, requestid); once both
// are there the node dials the pod's port and copies bytes both ways. The pod's end finishing
// closes the data stream and then the error stream (kubectl waits for that); a port nothing
// listens on gets the reason on the error stream, as the kubelet writes it.
//
// The SPDY byte stream arrives in WebSocket binary messages ("SPDY/3.1+portforward.k8s.io",
// how kubectl 1.31+ tunnels it). One thread per session polls the WebSocket and every pod
// connection. Bounds: 128 connections per session, 1 MiB frames (http/spdy.h), and a session
// with nothing open and no traffic for `idleTimeout` is closed.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "common/result.h"
#include "http/websocket.h"

namespace skiff::agent {

inline constexpr const char* kPortForwardSpdyProtocol = "SPDY/3.1+portforward.k8s.io";

struct PortForwardOptions {
  std::string podDescription;  // "pod web-1 (uid ...)" for error messages
  // A connected socket to the pod's port, as the pod itself would reach localhost:port.
  std::function<Result<int>(uint16_t port)> dial;
  size_t maxConnections = 128;
  std::chrono::milliseconds idleTimeout{std::chrono::minutes(30)};
};

// Runs until the client leaves, the session breaks or it idles out.
void servePortForward(http::WebSocket& socket, const PortForwardOptions& options);

}  // namespace skiff::agent
