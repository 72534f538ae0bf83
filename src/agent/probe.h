// Probe actions against a container on this node: HTTP GET and TCP connect on loopback, both
// bounded by the probe's timeout. (exec probes go through the Runtime.)
#pragma once
#include <chrono>
#include <string>

namespace skiff::agent {

// True for an HTTP status 200-399 within the timeout.
bool httpProbe(const std::string& host, int port, const std::string& path, std::chrono::milliseconds timeout,
               std::string* detail);
bool tcpProbe(const std::string& host, int port, std::chrono::milliseconds timeout, std::string* detail);

}  // namespace skiff::agent
