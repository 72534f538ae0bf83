// shop: the demo's microservice, one small static binary for every role (no dependencies, so it
// runs in a busybox-static image). ROLE picks what it serves:
//   catalog   GET /products           the product list (VERSION v2 adds discounts: the canary)
//   cart      GET /cart, POST /cart   an in-memory cart
//   orders    GET /orders, POST /orders
//   frontend  GET /                   a page built from catalog and cart, found through the
//                                     Kubernetes service environment (CATALOG_SERVICE_HOST, ...)
// Every role: GET /healthz; FAIL_PERCENT answers that share of requests with 500; DELAY_MS
// waits before answering; one log line per request; the caller's traceparent is passed on.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>

namespace {

std::string env(const char* name, const char* fallback = "") {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

const std::string kRole = env("ROLE", "catalog");
const std::string kVersion = env("VERSION", "v1");
const std::string kPod = env("HOSTNAME", "shop");
const int kFailPercent = std::atoi(env("FAIL_PERCENT", "0").c_str());
const int kDelayMs = std::atoi(env("DELAY_MS", "0").c_str());
std::atomic<int> cartItems{0}, orders{0};

struct Request {
  std::string method, path, traceparent, body;
};

// Reads one request from a keep-alive connection; false when the client is done.
bool readRequest(int fd, std::string& buf, Request& r) {
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    char tmp[4096];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0 || buf.size() > 65536) return false;
    buf.append(tmp, size_t(n));
  }
  std::string head = buf.substr(0, end);
  buf.erase(0, end + 4);
  size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return false;
  r.method = head.substr(0, sp1);
  r.path = head.substr(sp1 + 1, sp2 - sp1 - 1);
  r.traceparent.clear();
  size_t length = 0;
  for (size_t at = head.find("\r\n"); at != std::string::npos; at = head.find("\r\n", at + 2)) {
    std::string line = head.substr(at + 2, head.find("\r\n", at + 2) - at - 2);
    std::string lower = line;
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (lower.rfind("content-length:", 0) == 0) length = size_t(std::atol(line.c_str() + 15));
    if (lower.rfind("traceparent:", 0) == 0) r.traceparent = line.substr(line.find_first_not_of(' ', 12));
  }
  while (buf.size() < length) {
    char tmp[4096];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, size_t(n));
  }
  r.body = buf.substr(0, length);
  buf.erase(0, length);
  return true;
}

// GET http://<SERVICE>_SERVICE_HOST:<SERVICE>_SERVICE_PORT/path; "" when it fails.
std::string call(const std::string& service, const std::string& path, const std::string& traceparent, int& status) {
  std::string host = env((service + "_SERVICE_HOST").c_str()), port = env((service + "_SERVICE_PORT").c_str());
  status = 0;
  if (host.empty() || port.empty()) return "";
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(std::atoi(port.c_str())));
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1 || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + service + "\r\nConnection: close\r\n";
  if (!traceparent.empty()) req += "traceparent: " + traceparent + "\r\n";
  req += "\r\n";
  send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string resp;
  char tmp[4096];
  ssize_t n;
  while ((n = recv(fd, tmp, sizeof tmp, 0)) > 0) resp.append(tmp, size_t(n));
  close(fd);
  if (resp.size() > 12) status = std::atoi(resp.c_str() + 9);
  size_t body = resp.find("\r\n\r\n");
  return body == std::string::npos ? "" : resp.substr(body + 4);
}

void answer(int fd, int status, const std::string& type, const std::string& body) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + (status < 400 ? " OK" : " Error") + "\r\nContent-Type: " + type +
                  "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nX-Served-By: " + kPod + "\r\n\r\n" + body;
  send(fd, r.data(), r.size(), MSG_NOSIGNAL);
}

void handle(int fd, const Request& r) {
  thread_local std::mt19937 rng(std::random_device{}());
  auto started = std::chrono::steady_clock::now();
  int status = 200;
  std::string type = "application/json", body;
  if (kDelayMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(kDelayMs));
  if (r.path == "/healthz") {
    body = "ok";
    type = "text/plain";
  } else if (kFailPercent > 0 && int(rng() % 100) < kFailPercent) {
    status = 500;
    body = R"j({"error":"injected failure (FAIL_PERCENT)"})j";
  } else if (kRole == "catalog" && r.path.rfind("/products", 0) == 0) {
    body = kVersion == "v2" ? R"({"version":"v2","products":[{"name":"kayak","price":899,"discount":10},{"name":"paddle","price":79,"discount":5}]})"
                            : R"({"version":"v1","products":[{"name":"kayak","price":899},{"name":"paddle","price":79}]})";
  } else if (kRole == "cart" && r.path == "/cart") {
    if (r.method == "POST") ++cartItems;
    body = "{\"items\":" + std::to_string(cartItems.load()) + "}";
  } else if (kRole == "orders" && r.path == "/orders") {
    if (r.method == "POST") ++orders;
    body = "{\"orders\":" + std::to_string(orders.load()) + "}";
  } else if (kRole == "frontend" && (r.path == "/" || r.path.rfind("/?", 0) == 0)) {
    int cs = 0, ks = 0;
    std::string products = call("CATALOG", "/products", r.traceparent, cs);
    std::string cart = call("CART", "/cart", r.traceparent, ks);
    status = cs == 200 ? 200 : 502;
    type = "text/html; charset=utf-8";
    body = "<!doctype html><title>shop</title><h1>shop (" + kVersion + ", " + kPod + ")</h1><p>catalog: " +
           (cs == 200 ? products : "unavailable (" + std::to_string(cs) + ")") + "</p><p>cart: " + (ks == 200 ? cart : "unavailable") + "</p>\n";
  } else {
    status = 404;
    body = R"({"error":"not found"})";
  }
  answer(fd, status, type, body);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  std::printf("%s %s %s %d %.1fms\n", kRole.c_str(), r.method.c_str(), r.path.c_str(), status, ms);
  std::fflush(stdout);
}

}  // namespace

int main() {
  // As a container's PID 1 nothing ends us on SIGTERM unless we say so: stop at once (no state).
  std::signal(SIGTERM, [](int) { _exit(0); });
  int port = std::atoi(env("PORT", "8080").c_str());
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  if (bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(lfd, 512) != 0) {
    std::fprintf(stderr, "shop: cannot listen on port %d: %s\n", port, std::strerror(errno));
    return 1;
  }
  std::printf("shop %s %s listening on :%d\n", kRole.c_str(), kVersion.c_str(), port);
  std::fflush(stdout);
  for (;;) {
    int fd = accept(lfd, nullptr, nullptr);
    if (fd < 0) continue;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread([fd] {
      std::string buf;
      Request r;
      while (readRequest(fd, buf, r)) handle(fd, r);
      close(fd);
    }).detach();
  }
}
